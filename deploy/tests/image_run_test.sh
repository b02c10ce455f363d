#!/usr/bin/env bash
# Runs the image scripts/build-image.sh made, as the DaemonSet does, with rootful podman: its
# probesnatd (the entrypoint, the DaemonSet's args and ConfigMap) in the network namespace of a
# throwaway netns, the socket directory bind-mounted; waits for SERVING (probesnat-cni STATUS from
# the host through the bind mount, and the DaemonSet's readiness command inside the container),
# checks the host table in THAT namespace, stops it (SIGTERM, exit 0); then runs the image's
# install-cni.sh on temporary CNI directories.
#   image_run_test.sh IMAGE BUILD_DIR
# Container, namespace and temporary directory are removed on any exit. Exit 77 (skip) only when
# podman cannot start any container on this machine, with podman's error.
set -euo pipefail
image=${1:?usage: image_run_test.sh IMAGE BUILD_DIR}
build=$(realpath "${2:?usage: image_run_test.sh IMAGE BUILD_DIR}")
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (rootful podman, network namespaces)"; exit 77; }
command -v podman >/dev/null || { echo "FAIL: podman is not installed (scripts/install-deps.sh)"; exit 1; }
podman image exists "$image" || { echo "FAIL: no image $image (run scripts/build-image.sh)"; exit 1; }
name=psntimg-$$
tmp=$(mktemp -d /tmp/psntimg.XXXXXX)
cleanup() {
  local rc=$?
  "${podman[@]:-podman}" rm -f -t 0 "$name" "$name-cni" >/dev/null 2>&1 || true
  ip netns del "$name" 2>/dev/null || true
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# Limits no higher than this process's own hard limits: without CAP_SYS_RESOURCE (as on the
# development machines) podman's defaults (nofile 1048576) cannot be set.
run_options=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
# podman's default runtime first; runc when it cannot start a container (crun 1.8 refuses a
# cgroup v1/v2 hybrid whose v2 hierarchy has controllers).
podman=()
start_error=
for runtime in default runc; do
  if [ $runtime = default ]; then candidate=(podman); else candidate=(podman --runtime "$runtime"); fi
  [ $runtime = default ] || command -v "$runtime" >/dev/null || continue
  if start_error=$("${candidate[@]}" run --rm --network none "${run_options[@]}" --entrypoint /bin/true "$image" 2>&1); then
    podman=("${candidate[@]}")
    break
  fi
  echo "note: podman (runtime $runtime) cannot start a container here: $start_error"
done
if [ ${#podman[@]} -eq 0 ]; then
  if grep -qE 'OCI runtime|OCI permission denied|cgroup' <<<"$start_error"; then
    echo "SKIP: podman cannot start containers on this machine: $start_error"
    exit 77
  fi
  echo "FAIL: /bin/true in $image: $start_error"
  exit 1
fi
ok "podman starts containers (runtime: $runtime)"

# The DaemonSet's own ConfigMap files, and per container what podman needs to run it alike: the
# agent's args, readiness command, capabilities and memory limit; install-cni's capabilities.
mkdir -p "$tmp/etc" "$tmp/cni-bin" "$tmp/cni-conf"
mkdir -m 0700 "$tmp/run"
# The node's address as the downward API gives it (status.hostIP), on a dummy interface of the
# throwaway namespace: $(HOST_IP) in the agent's args is expanded as the kubelet expands it.
host_ip=192.0.2.10
python3 - "$here/daemonset.yaml" "$tmp/etc" "$host_ip" <<'EOF'
import json, re, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
config = next(d for d in docs if d["kind"] == "ConfigMap")
for key, text in config["data"].items():
    open(f"{sys.argv[2]}/{key}", "w").write(text)
pod = next(d for d in docs if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
containers = {c["name"]: c for c in pod["containers"]}
def caps(c):
    return ",".join(c["securityContext"]["capabilities"]["add"])
def memory(c):  # Kubernetes quantity (Mi, Gi) -> podman's (m, g)
    return c["resources"]["limits"]["memory"].replace("Mi", "m").replace("Gi", "g")
agent, cni = containers["probesnatd"], containers["install-cni"]
fields = {"status.hostIP": sys.argv[3]}
env = {e["name"]: fields[e["valueFrom"]["fieldRef"]["fieldPath"]] if "valueFrom" in e else e["value"]
       for e in agent.get("env", [])}
args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in agent.get("args", [])]
metrics_port = next((p["containerPort"] for p in agent.get("ports", []) if p["name"] == "metrics"), 0)
json.dump({"args": args, "metrics_port": metrics_port, "readiness": agent["readinessProbe"]["exec"]["command"],
           "agent_caps": caps(agent), "agent_memory": memory(agent),
           "cni_caps": caps(cni), "cni_memory": memory(cni)},
          open(f"{sys.argv[2]}/pod.json", "w"))
EOF
pod=$tmp/etc/pod.json
mapfile -t agent_args < <(jq -r '.args[]' "$pod")
mapfile -t readiness_command < <(jq -r '.readiness[]' "$pod")

version_host=$("$build/agent/daemon/probesnatd" --version)
version_image=$("${podman[@]}" run --rm --network none "${run_options[@]}" "$image" --version 2>&1) || true
[ "$version_image" = "$version_host" ] && ok "entrypoint is probesnatd: $version_image" ||
  bad "image's --version: '$version_image', the build's: '$version_host'"

ip netns add "$name"
ip -n "$name" link set lo up
ip -n "$name" link add node0 type veth peer name node1
ip -n "$name" addr add "$host_ip/24" dev node0
ip -n "$name" link set node0 up
"${podman[@]}" run -d --name "$name" "${run_options[@]}" \
  --network "ns:/var/run/netns/$name" \
  --cap-drop all --cap-add "$(jq -r .agent_caps "$pod")" --memory "$(jq -r .agent_memory "$pod")" \
  -v "$tmp/etc:/etc/probesnat:ro" -v "$tmp/run:/run/probesnat" \
  "$image" "${agent_args[@]}" >/dev/null
ok "container started: probesnatd ${agent_args[*]} (capabilities $(jq -r .agent_caps "$pod"), memory $(jq -r .agent_memory "$pod"))"

status_config="{\"cniVersion\":\"1.1.0\",\"name\":\"image-test\",\"type\":\"probesnat-cni\",\"socket\":\"$tmp/run/probesnat.sock\",\"timeout\":\"1s\"}"
serving=0
for _ in $(seq 100); do
  if CNI_COMMAND=STATUS "$build/agent/cni/probesnat-cni" <<<"$status_config" >/dev/null 2>&1; then
    serving=1
    break
  fi
  [ "$("${podman[@]}" inspect --format '{{.State.Running}}' "$name")" = true ] || break
  sleep 0.2
done
if [ $serving -eq 1 ]; then
  ok "SERVING over the bind-mounted socket (probesnat-cni STATUS from the host)"
else
  bad "no SERVING within 20 s; container log: $("${podman[@]}" logs "$name" 2>&1 | tail -5)"
fi
metrics_url="http://$host_ip:$(jq -r .metrics_port "$pod")/metrics"
if metrics=$(ip netns exec "$name" python3 -c \
    'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "$metrics_url") &&
    grep -q '^probesnat_build_info{' <<<"$metrics"; then
  ok "metrics on the node's address as the DaemonSet configures them: $metrics_url"
else
  bad "no probesnat metrics at $metrics_url (from the args $(jq -c .args "$pod"))"
fi
if out=$("${podman[@]}" exec "$name" "${readiness_command[@]}" 2>&1); then
  ok "the DaemonSet's readiness command passes in the container"
else
  bad "readiness command ${readiness_command[*]} failed in the container: $out"
fi
echo "info: memory in use (cgroup / limit): $("${podman[@]}" stats --no-stream --format '{{.MemUsage}}' "$name" 2>&1)"
tables=$(ip netns exec "$name" nft list tables)
grep -qx 'table inet probesnat' <<<"$tables" && ok "table inet probesnat in the container's namespace $name" ||
  bad "no probesnat table in $name: $(echo $tables)"
nft list tables 2>/dev/null | grep -q probesnat && bad "a probesnat table appeared in the machine's own namespace"

"${podman[@]}" stop -t 10 "$name" >/dev/null
code=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")
logs=$("${podman[@]}" logs "$name" 2>&1)
[ "$code" = 0 ] && ok "SIGTERM: probesnatd exited 0" || bad "probesnatd exited $code: $(tail -5 <<<"$logs")"
grep -q 'ready on /run/probesnat/probesnat.sock' <<<"$logs" && ok "logged ready" || bad "no ready line: $(tail -5 <<<"$logs")"
"${podman[@]}" rm "$name" >/dev/null

# The install container: install-cni.sh from the image onto (temporary) node CNI directories.
echo '{"cniVersion":"1.0.0","name":"k8s","plugins":[{"type":"bridge"}]}' >"$tmp/cni-conf/10-k8s.conflist"
if out=$("${podman[@]}" run --rm --name "$name-cni" --network none "${run_options[@]}" \
    --entrypoint /usr/local/bin/install-cni.sh --security-opt no-new-privileges \
    --cap-drop all --cap-add "$(jq -r .cni_caps "$pod")" --memory "$(jq -r .cni_memory "$pod")" \
    -e PLUGIN_CONFIG="$(cat "$tmp/etc/cni-plugin.json")" \
    -v "$tmp/cni-bin:/host/opt/cni/bin" -v "$tmp/cni-conf:/host/etc/cni/net.d" "$image" install 2>&1); then
  ok "install-cni.sh install in the image: $(tail -1 <<<"$out")"
else
  bad "install-cni.sh install failed in the image: $out"
fi
[ "$(jq -c '[.plugins[].type]' "$tmp/cni-conf/10-k8s.conflist")" = '["bridge","probesnat-cni"]' ] &&
  ok "probesnat-cni appended to the node's conflist" || bad "conflist: $(cat "$tmp/cni-conf/10-k8s.conflist")"
[ -x "$tmp/cni-bin/probesnat-cni" ] && CNI_COMMAND=VERSION "$tmp/cni-bin/probesnat-cni" </dev/null >/dev/null &&
  ok "the installed probesnat-cni runs on the node" || bad "no working probesnat-cni in the node's CNI bin dir"

echo "image run: $passed passed, $failed failed"
[ $failed -eq 0 ]
