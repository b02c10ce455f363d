#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang, ASan+UBSan) and runs each for a bounded time on its
# seed corpus (fuzz/corpus/<target>/). A crash, leak, sanitizer report or timeout fails the script
# and leaves the input in $BUILD_DIR/fuzz-findings/<target>/.
#   scripts/fuzz.sh                  # 30 s per target (what scripts/test.sh runs)
#   scripts/fuzz.sh --time 3600      # an hour per target
#   scripts/fuzz.sh --time 60 manifest_fuzzer   # only the named targets
#   scripts/fuzz.sh netlink_readback_fuzzer      # not in the default set: it finds, within a minute,
#     libnftnl 1.2.4's own unchecked reads of hostile messages (README "Security model"), which only
#     the kernel can send to the agent's sockets
# Environment: BUILD_DIR (default build-asan, shared with the sanitizer build in scripts/test.sh),
# FUZZ_JOBS (parallel targets, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] ||
  targets=(pod_validation_fuzzer manifest_fuzzer daemon_config_fuzzer)
build_dir=${BUILD_DIR:-build-asan}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DPROBESNAT_SANITIZE=address,undefined -DPROBESNAT_FUZZ=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target fuzzers write_readback_seeds
status=0
for t in "${targets[@]}"; do
  corpus=$(mktemp -d)  # new inputs found this run; the repository's seeds stay as they are
  seeds=fuzz/corpus/$t
  if [ "$t" = netlink_readback_fuzzer ]; then
    seeds=$(mktemp -d)
    cp fuzz/corpus/$t/* "$seeds/" 2>/dev/null || true
    "$build_dir/fuzz/write_readback_seeds" "$seeds"
  fi
  findings=$build_dir/fuzz-findings/$t
  mkdir -p "$findings"
  log=$build_dir/fuzz-findings/$t.log
  leaks=1
  # See netlink_readback_fuzzer.cc: libnftnl's exit() on "ABI breakage" is turned into a skip.
  [ "$t" != netlink_readback_fuzzer ] || leaks=0
  echo "fuzz.sh: $t for ${seconds}s"
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "$build_dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=$leaks \
       -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 \
       "$corpus" "$seeds" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$log" |
      sed "s/^/fuzz.sh: $t: /" || true
    grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 |
      sed "s/^/fuzz.sh: $t: /" || true
  else
    echo "fuzz.sh: $t FAILED; input and log in $findings/ and $log:" >&2
    tail -40 "$log" >&2
    status=1
  fi
  rm -rf "$corpus"
  [ "$t" != netlink_readback_fuzzer ] || rm -rf "$seeds"
done
exit $status
