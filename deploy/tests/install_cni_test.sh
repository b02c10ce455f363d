#!/usr/bin/env bash
# Tests deploy/install-cni.sh on temporary directories (no privilege, no cluster).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/psnt-install.XXXXXX)
watcher=
trap '[ -n "$watcher" ] && kill $watcher 2>/dev/null; rm -rf "$tmp"' EXIT
export CNI_BIN_DIR=$tmp/bin CNI_CONF_DIR=$tmp/net.d PLUGIN_BINARY=$tmp/probesnat-cni
export PLUGIN_CONFIG='{"type":"probesnat-cni","failurePolicy":"failClosed"}'
export PROBESNAT_RUN_DIR=$tmp/run
run=$PROBESNAT_RUN_DIR
mkdir -p "$CNI_BIN_DIR" "$CNI_CONF_DIR" "$run"
printf '#!/bin/sh\necho fake plugin\n' >"$PLUGIN_BINARY"
main='{"cniVersion":"1.0.0","name":"k8s","plugins":[{"type":"bridge"},{"type":"portmap"}]}'
echo "$main" >"$CNI_CONF_DIR/10-bridge.conflist"
echo '{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"ptp"}]}' >"$CNI_CONF_DIR/20-other.conflist"
passed=0 failed=0
check() { if eval "$2"; then echo "ok: $1"; passed=$((passed + 1)); else echo "FAIL: $1"; failed=$((failed + 1)); fi; }
types() { jq -c '[.plugins[].type]' "$1"; }
c=$CNI_CONF_DIR/10-bridge.conflist

"$here/install-cni.sh" install 2>/dev/null
check "binary installed executable" '[ -x "$CNI_BIN_DIR/probesnat-cni" ]'
check "probesnat is the last plugin" '[ "$(types "$c")" = "[\"bridge\",\"portmap\",\"probesnat-cni\"]" ]'
check "the entry is PLUGIN_CONFIG" '[ "$(jq -c ".plugins[2]" "$c")" = "$PLUGIN_CONFIG" ]'
check "other fields kept" '[ "$(jq -r .name "$c")" = k8s ]'
check "only the first conflist touched" '[ "$(types "$CNI_CONF_DIR/20-other.conflist")" = "[\"ptp\"]" ]'
check "no temporary files left" '[ -z "$(ls -A "$CNI_CONF_DIR" "$CNI_BIN_DIR" | grep probesnat-tmp || true)" ]'
"$here/install-cni.sh" install 2>/dev/null
check "install is idempotent (one entry)" '[ "$(jq "[.plugins[] | select(.type == \"probesnat-cni\")] | length" "$c")" = 1 ]'
# An entry that is not last (the CNI appended a plugin after us) is moved back to the end.
jq '.plugins += [{"type":"tuning"}]' "$c" >"$c.new" && mv "$c.new" "$c"
"$here/install-cni.sh" install 2>/dev/null
check "moved back to last" '[ "$(types "$c")" = "[\"bridge\",\"portmap\",\"tuning\",\"probesnat-cni\"]" ]'

# --watch: the CNI rewrites its conflist (rename, as CNIs do); the entry comes back.
"$here/install-cni.sh" install --watch 0.1 2>/dev/null & watcher=$!
sleep 0.3
echo "$main" >"$c.tmp" && mv "$c.tmp" "$c"
for _ in $(seq 30); do [ "$(types "$c")" = '["bridge","portmap","probesnat-cni"]' ] && break; sleep 0.1; done
check "re-inserted after the CNI rewrote its conflist" '[ "$(types "$c")" = "[\"bridge\",\"portmap\",\"probesnat-cni\"]" ]'
kill $watcher; wait $watcher 2>/dev/null || true; watcher=
installed='[ "$(types "$c")" = "[\"bridge\",\"portmap\",\"probesnat-cni\"]" ] && [ -x "$CNI_BIN_DIR/probesnat-cni" ]'
removed='[ "$(types "$c")" = "[\"bridge\",\"portmap\"]" ] && [ ! -e "$CNI_BIN_DIR/probesnat-cni" ]'
check "SIGTERM of --watch without an uninstall request keeps entry and binary" "$installed"

# The container's stop (preStop): a restart or upgrade keeps everything, an uninstall removes it.
out=$("$here/install-cni.sh" stop 2>&1)
check "stop without a request keeps entry and binary (rolling update)" "$installed"
check "stop says why it kept them" '[[ "$out" == *"no uninstall requested in $run"* ]]'
mkdir "$run/uninstall-requested"
"$here/install-cni.sh" stop 2>/dev/null
check "a directory at the request path is no request" "$installed"
rmdir "$run/uninstall-requested"

echo "requested at 2026-12-03T13:00:00Z by probesnatctl" >"$run/uninstall-requested"
out=$("$here/install-cni.sh" stop 2>&1)
check "stop with uninstall-requested removes entry and binary" "$removed"
check "stop names the request it saw" '[[ "$out" == *"$run/uninstall-requested"* ]]'
check "valid JSON after the stop's uninstall" 'jq -e . "$c" >/dev/null'
"$here/install-cni.sh" stop 2>/dev/null
check "stop again is idempotent" "$removed"

# The agent finished first: it replaced the request with its "uninstalled" record.
rm "$run/uninstall-requested"
"$here/install-cni.sh" install 2>/dev/null
echo "uninstalled at 2026-12-03T13:00:01Z by probesnatd pid 1" >"$run/uninstalled"
"$here/install-cni.sh" stop 2>/dev/null
check "stop with the agent's uninstalled record removes entry and binary" "$removed"
rm "$run/uninstalled"

# The agent decides itself (its DaemonSet gone) while this stop runs: stop waits for it to end and
# sees its record. A fake agent: a process named probesnatd whose pid is in the lock file.
"$here/install-cni.sh" install 2>/dev/null
cp "$(command -v sleep)" "$tmp/probesnatd"
"$tmp/probesnatd" 1 & agent=$!
echo "$agent" >"$run/probesnatd.lock"
( sleep 0.5; echo "uninstalled at ... by probesnatd pid $agent" >"$run/uninstalled" ) &
start=$(date +%s%N)
"$here/install-cni.sh" stop 2>/dev/null
waited_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "stop waits for the agent and sees the uninstall it decided" "$removed"
check "stop waited for the agent to end (${waited_ms} ms)" '[ $waited_ms -ge 500 ]'
wait $agent 2>/dev/null || true
rm "$run/uninstalled"
"$here/install-cni.sh" install 2>/dev/null
"$tmp/probesnatd" 30 & agent=$!
echo "$agent" >"$run/probesnatd.lock"
start=$(date +%s%N)
PROBESNAT_STOP_WAIT=1 "$here/install-cni.sh" stop 2>/dev/null
waited_ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill $agent; wait $agent 2>/dev/null || true
check "an agent that does not end delays the stop by PROBESNAT_STOP_WAIT only (${waited_ms} ms)" \
  '[ $waited_ms -ge 1000 ] && [ $waited_ms -lt 3000 ]'
check "and without a request the stop then keeps entry and binary" "$installed"
echo 999999999 >"$run/probesnatd.lock"  # a pid that does not run: no wait

# --watch under an uninstall request: the CNI's rewrite is not undone, and SIGTERM uninstalls.
"$here/install-cni.sh" uninstall 2>/dev/null  # so that the wait below sees the watcher's own insert
"$here/install-cni.sh" install --watch 0.1 2>/dev/null & watcher=$!
for _ in $(seq 30); do eval "$installed" && break; sleep 0.1; done
touch "$run/uninstall-requested"
sleep 0.3
echo "$main" >"$c.tmp" && mv "$c.tmp" "$c"
sleep 0.5
check "no re-insert once an uninstall is requested" '[ "$(types "$c")" = "[\"bridge\",\"portmap\"]" ] '
"$here/install-cni.sh" install 2>/dev/null
kill $watcher; wait $watcher 2>/dev/null || true; watcher=
check "SIGTERM of --watch with a request removes entry and binary" "$removed"
rm "$run/uninstall-requested"

# The manual command removes both whatever the run directory says.
"$here/install-cni.sh" install 2>/dev/null
"$here/install-cni.sh" uninstall 2>/dev/null
check "uninstall removes the entry" '[ "$(types "$c")" = "[\"bridge\",\"portmap\"]" ]'
check "uninstall removes the binary" '[ ! -e "$CNI_BIN_DIR/probesnat-cni" ]'
check "valid JSON after uninstall" 'jq -e . "$c" >/dev/null'

PLUGIN_CONFIG='{"type":"other"}' "$here/install-cni.sh" install 2>/dev/null && rc=0 || rc=$?
check "a PLUGIN_CONFIG of another type is refused (exit 2)" '[ $rc = 2 ]'
rm "$CNI_CONF_DIR"/*.conflist
"$here/install-cni.sh" install 2>/dev/null && rc=0 || rc=$?
check "no conflist: exit 1" '[ $rc = 1 ]'

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
