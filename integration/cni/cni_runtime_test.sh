#!/usr/bin/env bash
# Real runtime test of probesnat-cni: Debian's bridge + host-local and probesnat-cni chained as a
# container runtime runs them (CNI_* environment, config on stdin, prevResult handed on as libcni
# does), a real probesnatd in a "node" namespace, pods in fresh namespaces, real TCP connections.
#   cni_runtime_test.sh BUILD_DIR
# Everything it creates (namespaces psntcni-<pid>-*, a temporary directory, processes) is removed
# on any exit; the machine's own namespace is never touched.
set -euo pipefail
build=$(realpath "${1:?usage: cni_runtime_test.sh BUILD_DIR}")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
plugins=/usr/lib/cni
[ -x $plugins/bridge ] && [ -x $plugins/host-local ] || { echo "containernetworking-plugins missing"; exit 1; }
probesnatd=${PROBESNATD:-$build/agent/daemon/probesnatd}
listen=$build/integration/probesnat_listen
connect=$build/integration/probesnat_connect
prefix=psntcni-$$
node=$prefix-node
tmp=$(mktemp -d /tmp/psntcni.XXXXXX)
bindir=$tmp/bin
mkdir -p "$bindir"
cp $plugins/bridge $plugins/host-local "$build/agent/cni/probesnat-cni" "$bindir/"
sock=$tmp/probesnatd.sock
pids=()
passed=0 failed=0
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do ip netns del "$ns"; done
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

ip netns add "$node"
ip -n "$node" link set lo up
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1

conflist() {  # $1 = failurePolicy
  cat <<JSON
{"cniVersion": "1.0.0", "name": "k8s", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/24"}]],
            "dataDir": "$tmp/ipam", "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "probesnat-cni", "socket": "$sock", "timeout": "2s", "failurePolicy": "$1",
   "stateDir": "$tmp/cni-state", "excludeNamespaces": ["kube-system"]}
]}
JSON
}

# Runs the chain for COMMAND on pod namespace $2 like libcni: each plugin gets its conflist entry
# plus name/cniVersion and the previous result as prevResult; CHECK and DEL hand every plugin the
# cached result of the ADD (libcni's result cache); DEL runs in reverse order.
run_chain() {
  local cmd=$1 pod=$2 policy=$3 ns=${4:-shop} list n i order prev="" out conf
  list=$(conflist "$policy")
  n=$(jq '.plugins | length' <<<"$list")
  if [ "$cmd" = DEL ]; then order=$(seq $((n - 1)) -1 0); else order=$(seq 0 $((n - 1))); fi
  [ "$cmd" != ADD ] && [ -s "$tmp/cache/$pod" ] && prev=$(cat "$tmp/cache/$pod")
  for i in $order; do
    conf=$(jq -c --argjson i "$i" --argjson prev "${prev:-null}" \
      '.plugins[$i] + {name: .name, cniVersion: .cniVersion}
       + (if $prev == null then {} else {prevResult: $prev} end)' <<<"$list")
    type=$(jq -r .type <<<"$conf")
    if ! out=$(ip netns exec "$node" env -i CNI_COMMAND="$cmd" CNI_CONTAINERID="$pod" \
        CNI_NETNS="/run/netns/$pod" CNI_IFNAME=eth0 CNI_PATH="$bindir" \
        CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$pod;K8S_POD_UID=uid-$pod" \
        "$bindir/$type" <<<"$conf" 2>>"$tmp/plugins.log"); then
      echo "$out"
      return 1
    fi
    [ "$cmd" = ADD ] && prev=$out
  done
  if [ "$cmd" = ADD ]; then mkdir -p "$tmp/cache"; echo "$prev" >"$tmp/cache/$pod"; echo "$prev"; fi
  [ "$cmd" = DEL ] && rm -f "$tmp/cache/$pod"
  return 0
}

start_agent() {  # extra probesnatd flags
  ip netns exec "$node" "$probesnatd" --socket "$sock" --allowed-netns-root /run/netns \
    --resync-interval 0s "$@" >>"$tmp/probesnatd.log" 2>&1 &
  agent=$!
  pids+=($agent)
  for _ in $(seq 100); do grep -q "ready on" "$tmp/probesnatd.log" && break; sleep 0.05; done
  sleep 0.2
}
stop_agent() { kill "$agent"; wait "$agent" 2>/dev/null || true; : >"$tmp/probesnatd.log"; }

new_pod() { ip netns add "$prefix-$1"; ip -n "$prefix-$1" link set lo up; }
pod_ip() { jq -r '.ips[0].address' <<<"$1" | cut -d/ -f1; }

start_agent

# --- ADD: probe from the node arrives from the probe address, in-pod capture works
new_pod a
res=$(run_chain ADD "$prefix-a" failClosed) || { bad "ADD a: $res"; exit 1; }
ip_a=$(pod_ip "$res")
ip netns exec "$prefix-a" "$listen" --timeout 20 --count 2 app=8080 inbound=15006 >"$tmp/a.log" 2>&1 &
pids+=($!)
sleep 0.3
ip netns exec "$node" "$connect" --timeout 3 "$ip_a" 8080 >/dev/null 2>&1 || true
sleep 0.3
grep -q "accepted app .*peer=169.254.7.127:" "$tmp/a.log" && ok "node probe to $ip_a arrives from 169.254.7.127" || bad "probe: $(cat "$tmp/a.log")"
new_pod b
res_b=$(run_chain ADD "$prefix-b" failClosed kube-system) || bad "ADD b: $res_b"
ip netns exec "$prefix-b" "$connect" --timeout 3 "$ip_a" 8080 >/dev/null 2>&1 || true
sleep 0.3
grep -q "accepted inbound " "$tmp/a.log" && ok "pod b -> a:8080 is captured by a's inbound port 15006" || bad "capture: $(cat "$tmp/a.log")"
ip netns exec "$prefix-b" nft list tables | grep -q probesnat && bad "kube-system pod b enrolled" || ok "kube-system pod b not enrolled (excludeNamespaces)"

# --- CHECK passes, then fails once someone deletes the pod table
run_chain CHECK "$prefix-a" failClosed >/dev/null && ok "CHECK a passes" || bad "CHECK a"
ip netns exec "$prefix-a" nft delete table inet probesnat
out=$(run_chain CHECK "$prefix-a" failClosed) && bad "CHECK after table deletion passed" || { [ "$(jq .code <<<"$out")" = 104 ] && ok "CHECK fails (code 104) after the pod table is deleted" || bad "CHECK: $out"; }

# --- a second attachment into pod a's namespace (another container, another uid): probesnat-cni
# alone, as the runtime runs it, with a's result as prevResult. A conflict, not a policy refusal.
conf=$(conflist failClosed | jq -c --argjson prev "$(cat "$tmp/cache/$prefix-a")" \
  '.plugins[1] + {name: .name, cniVersion: .cniVersion, prevResult: $prev}')
dup() {
  ip netns exec "$node" env -i CNI_COMMAND="$1" CNI_CONTAINERID="$prefix-a-dup" \
    CNI_NETNS="/run/netns/$prefix-a" CNI_IFNAME=eth0 CNI_PATH="$bindir" \
    CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=dup;K8S_POD_UID=uid-dup" \
    "$bindir/probesnat-cni" <<<"$conf" 2>>"$tmp/plugins.log"
}
out=$(dup ADD) && bad "ADD into an enrolled namespace succeeded" || {
  [ "$(jq .code <<<"$out")" = 105 ] && jq -r .msg <<<"$out" | grep -q "network namespace of pod shop/dup is already enrolled" &&
    ok "ADD into pod a's enrolled namespace fails with code 105 (conflict): $(jq -r .msg <<<"$out")" || bad "conflict: $out"; }
dup DEL >/dev/null && ok "DEL of the refused attachment" || bad "DEL of the refused attachment"

# --- DEL: everything is gone
run_chain DEL "$prefix-a" failClosed >/dev/null && ok "DEL a" || bad "DEL a"
ip netns exec "$node" nft list table inet probesnat | grep -qw "$ip_a" && bad "node still holds $ip_a" || ok "node set no longer holds $ip_a"
[ -z "$(ls "$tmp/cni-state/k8s" 2>/dev/null)" ] && ok "no attachment record left" || bad "records left"
run_chain DEL "$prefix-a" failClosed >/dev/null && ok "second DEL a succeeds (idempotent)" || bad "second DEL"

# --- agent stopped: failClosed refuses ADD, failOpen admits the pod unenrolled
stop_agent
new_pod c
out=$(run_chain ADD "$prefix-c" failClosed) && bad "failClosed ADD succeeded with agent down" || { [ "$(jq .code <<<"$out")" = 11 ] && ok "failClosed: ADD fails with code 11 while the agent is down" || bad "failClosed: $out"; }
run_chain DEL "$prefix-c" failOpen >/dev/null || true
new_pod d
out=$(run_chain ADD "$prefix-d" failOpen) && ok "failOpen: ADD succeeds while the agent is down" || bad "failOpen: $out"
ip netns exec "$prefix-d" nft list tables | grep -q probesnat && bad "failOpen pod has a table" || ok "failOpen pod d has no probesnat table"
start_agent

# --- 50 concurrent ADDs
for i in $(seq 50); do new_pod "p$i"; done
t0=$(date +%s.%N)
adds=()
for i in $(seq 50); do run_chain ADD "$prefix-p$i" failClosed >"$tmp/p$i.out" 2>&1 & adds+=($!); done
for job in "${adds[@]}"; do wait "$job" || true; done
t1=$(date +%s.%N)
enrolled=0
for i in $(seq 50); do ip netns exec "$prefix-p$i" nft list tables | grep -q probesnat && enrolled=$((enrolled + 1)); done
[ "$enrolled" = 50 ] && ok "50 concurrent ADDs: 50 pods enrolled in $(echo "$t1 - $t0" | bc) s" || bad "50 concurrent ADDs: $enrolled enrolled"

# --- enforce mode: the policy check refuses (no snapshot loaded: fail closed), code 101
stop_agent
start_agent --policy-mode enforce
new_pod e
out=$(run_chain ADD "$prefix-e" failOpen) && bad "ADD succeeded although the policy check refuses" || {
  [ "$(jq .code <<<"$out")" = 101 ] && jq -r .details <<<"$out" | grep -q "no policy snapshot loaded" &&
    ok "enforce: ADD fails with code 101 (policy refusal), even with failOpen" || bad "policy refusal: $out"; }
ip netns exec "$prefix-e" nft list tables | grep -q probesnat && bad "refused pod e has a table" || ok "refused pod e has no probesnat table"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
