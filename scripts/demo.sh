#!/usr/bin/env bash
# probesnat demo: a node and two pods made of network namespaces, the real probesnatd in the node,
# pod A enrolled over gRPC, and real TCP connections showing what pod A's sockets see.
#
#   sudo scripts/demo.sh
#
# Installs the Debian packages (scripts/install-deps.sh), builds (scripts/build.sh; $BUILD_DIR,
# default ./build), then runs. DEMO_SKIP_BUILD=1 skips both steps when the binaries are already built;
# PROBESNATD=PATH runs another probesnatd binary.
# Everything it creates (namespaces psdemo-<pid>-*, a temporary directory, background processes) is
# removed on any exit; the machine's own network namespace is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root (sudo scripts/demo.sh): it creates network namespaces" >&2
  exit 1
fi
if [ "${DEMO_SKIP_BUILD:-0}" != 1 ]; then
  scripts/install-deps.sh
  scripts/build.sh
fi
build_dir=$(realpath "${BUILD_DIR:-build}")
probesnatd=${PROBESNATD:-$build_dir/agent/daemon/probesnatd}
listen=$build_dir/integration/probesnat_listen
connect=$build_dir/integration/probesnat_connect
client=$build_dir/integration/probesnat_demo_client
for bin in "$probesnatd" "$listen" "$connect" "$client"; do
  [ -x "$bin" ] || { echo "demo.sh: $bin is missing; build first (scripts/build.sh)" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------------
prefix=psdemo-$$
node=$prefix-node
pod_a=$prefix-pod-a
pod_b=$prefix-pod-b
node_v4=10.244.1.1 node_v6=fd00:244:1::1
a_v4=10.244.1.10 a_v6=fd00:244:1::10
b_v4=10.244.1.20 b_v6=fd00:244:1::20
probe_v4=169.254.7.127 probe_v6=fd16:9254:7127:1337:ffff:ffff:ffff:ffff
uid_a=3b0f6a52-1c2d-4e8f-9a01-5b6c7d8e9f0a
tmp=$(mktemp -d /tmp/psdemo.XXXXXX)
sock=$tmp/probesnatd.sock
pids=()
failures=0

cleanup() {
  local rc=$? pid i
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for ns in "$pod_a" "$pod_b" "$node"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$tmp"
  echo "== cleaned up: namespaces $prefix-* and $tmp removed"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Waits (up to 5 s) for a new line in file $1 (beyond line $2) matching regex $3; prints it.
wait_line() {
  local file=$1 skip=$2 pattern=$3 i
  for i in $(seq 50); do
    if tail -n +"$((skip + 1))" "$file" | grep -E -m1 "$pattern"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# check WHAT NS IP PORT EXPECTED-REGEX: connects from NS to IP:PORT and verifies what pod A's
# listeners printed for it.
check() {
  local what=$1 ns=$2 ip=$3 port=$4 expect=$5 before line
  before=$(wc -l <"$tmp/pod-a.log")
  printf '%s\n' "-- $what"
  in_ns "$ns" "$connect" --timeout 3 "$ip" "$port" | sed 's/^/   client: /' || true
  if line=$(wait_line "$tmp/pod-a.log" "$before" '^accepted'); then
    printf '   pod A:  %s\n' "$line"
    if grep -Eq "$expect" <<<"$line"; then
      printf '   OK      %s\n' "$what"
      return 0
    fi
  else
    printf '   pod A:  (nothing arrived)\n'
  fi
  printf '   FAILED  expected: %s\n' "$expect"
  failures=$((failures + 1))
}

# ---------------------------------------------------------------------------------------------------
say "topology: node $node, pods $pod_a ($a_v4, $a_v6) and $pod_b ($b_v4, $b_v6)"
for ns in "$node" "$pod_a" "$pod_b"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # Point-to-point veths: no duplicate address detection, so IPv6 is usable at once.
  in_ns "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
done
in_ns "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
add_pod() {
  local pod=$1 veth=$2 v4=$3 v6=$4
  ip -n "$node" link add "$veth" type veth peer name eth0 netns "$pod"
  ip -n "$node" addr add "$node_v4/32" dev "$veth"
  ip -n "$node" -6 addr add "$node_v6/128" dev "$veth" nodad
  ip -n "$node" link set "$veth" up
  ip -n "$pod" addr add "$v4/32" dev eth0
  ip -n "$pod" -6 addr add "$v6/128" dev eth0 nodad
  ip -n "$pod" link set eth0 up
  ip -n "$pod" route add "$node_v4/32" dev eth0 scope link
  ip -n "$pod" route add default via "$node_v4" dev eth0 src "$v4"
  ip -n "$pod" -6 route add "$node_v6/128" dev eth0
  ip -n "$pod" -6 route add default via "$node_v6" dev eth0 src "$v6"
  ip -n "$node" route add "$v4/32" dev "$veth" src "$node_v4"
  ip -n "$node" -6 route add "$v6/128" dev "$veth" src "$node_v6"
}
add_pod "$pod_a" vpa "$a_v4" "$a_v6"
add_pod "$pod_b" vpb "$b_v4" "$b_v6"
echo "   node routes:"; ip -n "$node" route | sed 's/^/     /'

say "pod A: stand-ins for the app (8080), the mesh proxy's tunnel (15008), inbound (15006) and outbound (15001) capture"
# Started with ip netns exec directly (not through a shell function), so that $! is the process itself:
# ip execs the program, and cleanup can stop it by that pid.
ip netns exec "$pod_a" "$listen" --timeout 600 app=8080 tunnel=15008 inbound=15006 outbound=15001 >"$tmp/pod-a.log" 2>&1 &
pids+=($!)
wait_line "$tmp/pod-a.log" 0 '^listening' >/dev/null || { echo "listener did not start"; cat "$tmp/pod-a.log"; exit 1; }

say "before probesnat: the node reaches pod A from its own address"
check "node -> A:8080 arrives from the node's address $node_v4" "$node" "$a_v4" 8080 "accepted app .*peer=$node_v4:"

say "starting probesnatd inside the node namespace"
ip netns exec "$node" "$probesnatd" --socket "$sock" --allowed-netns-root /run/netns >"$tmp/probesnatd.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do
  "$client" health --socket "$sock" >/dev/null 2>&1 && break
  sleep 0.1
done
"$client" health --socket "$sock" | sed 's/^/   /'
grep -m1 "ready on" "$tmp/probesnatd.log" | sed 's/^/   log: /'

say "enrolling pod A over gRPC (uid $uid_a)"
if ! out=$("$client" enroll --socket "$sock" --uid "$uid_a" --ip "$a_v4" --ip "$a_v6" \
  --netns "/run/netns/$pod_a" --name pod-a); then
  echo "   FAILED  $out"
  sed 's/^/   log: /' "$tmp/probesnatd.log"
  exit 1
fi
echo "   $out"
echo "   node table (what the agent put in the node namespace):"
in_ns "$node" nft list table inet probesnat | sed 's/^/     /'

say "traffic with pod A enrolled"
check "kubelet-style probe: node -> A:8080 arrives at the app from $probe_v4" \
  "$node" "$a_v4" 8080 "accepted app .*peer=$probe_v4:"
check "IPv6 probe: node -> [A]:8080 arrives at the app from $probe_v6" \
  "$node" "$a_v6" 8080 "accepted app .*peer=\[$probe_v6\]:"
check "pod B -> A:8080 lands in the inbound capture listener (15006), from B, original dst A:8080" \
  "$pod_b" "$a_v4" 8080 "accepted inbound .*peer=$b_v4:.*original-dst=$a_v4:8080"
check "pod B -> A:15008 lands on the tunnel listener, from B" \
  "$pod_b" "$a_v4" 15008 "accepted tunnel .*peer=$b_v4:"
check "pod A's app -> B:9090 is captured by A's outbound listener (15001), original dst B:9090" \
  "$pod_a" "$b_v4" 9090 "accepted outbound .*original-dst=$b_v4:9090"

say "unenrolling pod A"
if out=$("$client" unenroll --socket "$sock" --uid "$uid_a"); then
  echo "   $out"
else
  echo "   FAILED  $out"
  failures=$((failures + 1))
fi
check "node -> A:8080 arrives from the node's address again" "$node" "$a_v4" 8080 "accepted app .*peer=$node_v4:"
if in_ns "$pod_a" nft list tables | grep -q probesnat; then
  echo "   FAILED  pod A still has a probesnat table"; failures=$((failures + 1))
else
  tables=$(in_ns "$pod_a" nft list tables | tr '\n' ' ')
  echo "   OK      pod A has no probesnat table (nft list tables: ${tables:-none})"
fi

say "probesnatd log"
sed 's/^/   /' "$tmp/probesnatd.log"

if [ "$failures" -ne 0 ]; then
  say "demo: $failures check(s) FAILED"
  exit 1
fi
say "demo: all checks passed"
