#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test (unit tests and real-kernel integration tests).
# Run as root on Debian bookworm: the integration tests create (and always remove) network namespaces;
# the machine's own network namespace is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build_dir=${BUILD_DIR:-build}
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: not root: the real-kernel tests will be skipped" >&2
fi
before=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
status=0
ctest --test-dir "$build_dir" --output-on-failure --timeout 300 -j1 || status=$?
# The unit suites again, built with clang under ASan+UBSan, then each libFuzzer harness for
# FUZZ_SECONDS (default 30) on its seed corpus, from that same build (README "Security model").
# SANITIZERS=0 skips both; scripts/test-sanitized.sh --all / --thread and scripts/fuzz.sh --time N
# run more.
if [ "${SANITIZERS:-1}" != 0 ]; then
  scripts/test-sanitized.sh || status=1
  scripts/fuzz.sh --time "${FUZZ_SECONDS:-30}" || status=1
fi
after=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
leaked=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
if [ -n "${leaked// /}" ]; then
  echo "test.sh: network namespaces left behind by the tests: $leaked" >&2
  status=1
fi
if command -v nft >/dev/null && nft list tables 2>/dev/null | grep -q probesnat; then
  echo "test.sh: a probesnat table appeared in the machine's own namespace" >&2
  status=1
fi
exit $status
