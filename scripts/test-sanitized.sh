#!/usr/bin/env bash
# Builds probesnat with clang under sanitizers and runs the tests in that build
# (README "Tests and benchmarks"). Run as root for the real-kernel tests.
#   scripts/test-sanitized.sh                 # ASan+UBSan, unit suites (what scripts/test.sh runs)
#   scripts/test-sanitized.sh --all           # ASan+UBSan, unit and integration suites
#   scripts/test-sanitized.sh --thread        # TSan, the daemon's concurrency tests
#   scripts/test-sanitized.sh --thread --all  # TSan, everything
# Environment: BUILD_DIR (default build-asan, or build-tsan with --thread).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=address,undefined
all=0
while [ $# -gt 0 ]; do
  case "$1" in
    --all) all=1; shift ;;
    --thread) sanitize=thread; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "test-sanitized.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$sanitize" = thread ]; then
  build_dir=${BUILD_DIR:-build-tsan}
  fuzz=OFF
else
  build_dir=${BUILD_DIR:-build-asan}
  fuzz=ON  # the same instrumented build serves scripts/fuzz.sh
fi
start=$(date +%s)
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DPROBESNAT_SANITIZE=$sanitize -DPROBESNAT_FUZZ=$fuzz >/dev/null
# Without --all only what the unit suites run is built (a third of the build): their executables,
# as the regular build's ctest (scripts/build.sh, $MAIN_BUILD_DIR) lists them, and the fuzzers.
main_build=${MAIN_BUILD_DIR:-build}
targets=()
if [ $all -eq 0 ] && [ -f "$main_build/CTestTestfile.cmake" ]; then
  mapfile -t targets < <(ctest --test-dir "$main_build" --show-only=json-v1 -LE 'integration|image' |
    python3 -c '
import json, os, sys
names = set()
for t in json.load(sys.stdin)["tests"]:
    cmd = t.get("command") or []
    if cmd and cmd[0].startswith(os.path.abspath(sys.argv[1])):
        names.add(os.path.basename(cmd[0]))
print("\n".join(sorted(names)))' "$main_build")
  [ "$fuzz" = OFF ] || targets+=(fuzzers write_readback_seeds)
fi
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}"
else
  cmake --build "$build_dir" -j"$(nproc)"
fi
built=$(date +%s)
# Leaks are reported (a leak fails the test); gRPC's and protobuf's process-lifetime singletons
# are not leaks. halt_on_error: the first report fails the test that caused it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
# Tests of executables not built here (-E NOT_BUILT) are the integration ones.
filter=(-LE 'integration|image' -E '_NOT_BUILT')
if [ "$sanitize" = thread ] && [ $all -eq 0 ]; then
  # The daemon's concurrency: the gRPC services, the reconciler, the status event hub.
  filter=(-R 'GrpcService|Reconciler|StatusEventHub|PodStore|HostMembership|Gate|Incremental'
    -LE 'integration|image' -E '_NOT_BUILT')
elif [ $all -eq 1 ]; then
  filter=(-LE image)
fi
status=0
ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j1 "${filter[@]}" || status=$?
end=$(date +%s)
echo "test-sanitized.sh: $sanitize: build $((built - start)) s, tests $((end - built)) s"
exit $status
