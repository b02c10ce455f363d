#!/usr/bin/env bash
# Installs the Debian bookworm packages probesnat builds, tests and runs with. Idempotent.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  libnftnl-dev libmnl-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libmicrohttpd-dev libcurl4-openssl-dev
  nftables iptables iproute2 procps
  containernetworking-plugins jq bc python3-kubernetes python3-yaml prometheus openssl
  mmdebstrap podman runc
  clang libclang-rt-14-dev llvm  # sanitizer build and libFuzzer (scripts/test-sanitized.sh, fuzz.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
