#!/usr/bin/env bash
# Installs probesnat-cni on a node (run by the DaemonSet's install container, with the node's CNI
# directories mounted):
#   install-cni.sh install   [--watch SECONDS]   copy the binary, insert probesnat as last plugin
#   install-cni.sh stop                          the container's stop (preStop, and SIGTERM of
#                                                --watch): uninstall only if an uninstall was
#                                                requested, else keep both (restart, upgrade)
#   install-cni.sh uninstall                     remove the plugin entry and the binary (manual)
# Environment: CNI_BIN_DIR (/host/opt/cni/bin), CNI_CONF_DIR (/host/etc/cni/net.d),
# PLUGIN_BINARY (/usr/local/bin/probesnat-cni), PLUGIN_CONFIG (JSON object of the plugin's entry,
# default {"type":"probesnat-cni"}), PROBESNAT_RUN_DIR (the agent's run directory, /run/probesnat),
# PROBESNAT_STOP_WAIT (seconds stop waits for the agent to end, 8).
# Every write is a temporary file in the same directory and a rename, so the runtime never reads a
# half-written binary or conflist. With --watch it re-inserts the entry whenever the main CNI
# rewrites its conflist, until SIGTERM.
# An uninstall is requested when the agent's run directory holds "uninstall-requested" (written by
# `probesnatctl uninstall`) or "uninstalled" (the agent's record of a finished uninstall: it writes
# it before it removes the request, so one of the two is always there). The stop first waits for
# the agent to end, so that a decision the agent takes itself (its DaemonSet gone, asked of the
# Kubernetes API) is seen too.
set -euo pipefail
bin_dir=${CNI_BIN_DIR:-/host/opt/cni/bin}
conf_dir=${CNI_CONF_DIR:-/host/etc/cni/net.d}
binary=${PLUGIN_BINARY:-/usr/local/bin/probesnat-cni}
entry=${PLUGIN_CONFIG:-'{"type":"probesnat-cni"}'}
run_dir=${PROBESNAT_RUN_DIR:-/run/probesnat}
log() { echo "install-cni: $*" >&2; }

# The conflist the runtime uses: the first *.conflist in lexical order (what libcni picks among
# conflists; plain .conf files cannot chain and are refused).
conflist() {
  local f
  for f in "$conf_dir"/*.conflist; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

write_atomic() {  # $1 = destination; content on stdin
  local tmp
  tmp=$(mktemp "$(dirname "$1")/.probesnat-tmp.XXXXXX")
  cat >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$1"
}

install_binary() {
  local tmp
  tmp=$(mktemp "$bin_dir/.probesnat-cni.XXXXXX")
  cp "$binary" "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin_dir/probesnat-cni"
}

# Inserts (or refreshes) our entry as the last plugin; exit 0 when the file was already right.
# The file is read once: computing the new text and comparing it with a second read could write
# back a stale version over a rewrite the CNI made in between.
insert() {
  local f=$1 cur new
  cur=$(jq . "$f") || { log "$f is not JSON"; return 1; }
  jq -e '.plugins | type == "array"' <<<"$cur" >/dev/null || { log "$f has no plugins list"; return 1; }
  new=$(jq --argjson e "$entry" '.plugins = ([.plugins[] | select(.type != "probesnat-cni")] + [$e])' <<<"$cur")
  if [ "$new" != "$cur" ]; then
    write_atomic "$f" <<<"$new"
    log "inserted probesnat-cni into $f"
  fi
}

remove() {
  local f=$1 cur new
  cur=$(jq . "$f") || return 0
  jq -e '[.plugins[]? | select(.type == "probesnat-cni")] | length > 0' <<<"$cur" >/dev/null || return 0
  new=$(jq '.plugins = [.plugins[] | select(.type != "probesnat-cni")]' <<<"$cur")
  write_atomic "$f" <<<"$new"
  log "removed probesnat-cni from $f"
}

# The request files present (none: no uninstall requested).
uninstall_files() {
  local m
  for m in uninstall-requested uninstalled; do
    [ -f "$run_dir/$m" ] && echo "$run_dir/$m"
  done
  return 0
}
uninstall_requested() { [ -n "$(uninstall_files)" ]; }

uninstall() {
  for f in "$conf_dir"/*.conflist; do [ -f "$f" ] && remove "$f"; done
  rm -f "$bin_dir/probesnat-cni"
  log "uninstalled"
}

# The agent decides at its own SIGTERM, which runs while this stop runs (it may ask the
# Kubernetes API, then write its "uninstalled" record): wait until it has ended, at most
# PROBESNAT_STOP_WAIT seconds (8; the pod's grace period is 10). Needs hostPID to see it.
wait_for_agent() {
  local pid wait_s=${PROBESNAT_STOP_WAIT:-8} deadline
  pid=$(head -n1 "$run_dir/probesnatd.lock" 2>/dev/null | tr -dc 0-9 || true)
  [ -n "$pid" ] || return 0
  deadline=$(( $(date +%s%N) + wait_s * 1000000000 ))
  while [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = probesnatd ]; do
    if [ "$(date +%s%N)" -ge $deadline ]; then
      log "probesnatd (pid $pid) still runs after ${wait_s}s; deciding now"
      return 0
    fi
    sleep 0.1
  done
}

stop() {
  wait_for_agent
  if uninstall_requested; then
    log "uninstall requested ($(uninstall_files | tr '\n' ' ')found): removing probesnat-cni"
    uninstall
  else
    log "no uninstall requested in $run_dir: keeping probesnat-cni in the conflist and $bin_dir (restart or upgrade)"
  fi
}

case "${1:-}" in
  install)
    jq -e 'type == "object" and .type == "probesnat-cni"' <<<"$entry" >/dev/null \
      || { log "PLUGIN_CONFIG must be a JSON object with \"type\": \"probesnat-cni\""; exit 2; }
    install_binary
    f=$(conflist) || { log "no *.conflist in $conf_dir"; exit 1; }
    insert "$f"
    if [ "${2:-}" = --watch ]; then
      trap 'stop; exit 0' TERM INT
      while sleep "${3:-2}" & wait $!; do
        # Once an uninstall is requested the entry is not put back (the stop removes it).
        if ! uninstall_requested && f=$(conflist); then insert "$f" || true; fi
      done
    fi
    ;;
  stop)
    stop
    ;;
  uninstall)
    uninstall
    ;;
  *)
    echo "usage: install-cni.sh install [--watch SECONDS] | stop | uninstall" >&2
    exit 2
    ;;
esac
