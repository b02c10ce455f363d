#!/usr/bin/env bash
# Builds the probesnat OCI image offline from Debian bookworm packages (no registry, no Dockerfile):
# stripped probesnatd, probesnatctl, probesnat-cni and install-cni.sh on a root file system that
# mmdebstrap makes of bookworm's Essential packages plus exactly the packages owning the libraries
# the binaries load (ldd + dpkg -S, scripts/runtime-packages.sh) and the tools install-cni.sh runs.
#   scripts/build-image.sh [--build-dir DIR] [--output FILE.tar] [--tag NAME:VERSION] [--no-build]
#                          [--no-import]
#     --build-dir DIR  CMake build tree (default build-release in the source tree). A new one is
#                      configured Release; an existing one is reused with its own build type (the
#                      copies are stripped either way).
#     --no-build       take the binaries in DIR as they are (the ctest fixture: already built)
#     --output FILE    also write the image as an OCI archive (podman save --format oci-archive)
#     --tag NAME:VER   default probesnat:$(git describe --tags --always --dirty), else the CMake
#                      project version
#     --no-import      stop after the root file system (no podman)
# Work files go to DIR/image: bin/ (stripped copies), packages.txt (the packages asked for),
# rootfs/ (the image's file system), debs/ (downloaded .debs, reused by the next run).
# Run as root on Debian bookworm; installs mmdebstrap, podman and binutils with apt-get if missing.
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$source_dir/build-release
output=
tag=
import=1
build=1
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --output) output=${2:?--output needs a file}; shift 2 ;;
    --tag) tag=${2:?--tag needs NAME:VERSION}; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-import) import=0; shift ;;
    *) echo "usage: build-image.sh [--build-dir DIR] [--output FILE.tar] [--tag NAME:VERSION] [--no-build] [--no-import]" >&2
       exit 2 ;;
  esac
done
# Paths given are the caller's; from here on everything runs in the source tree.
build_dir=$(realpath -m "$build_dir")
[ -z "$output" ] || output=$(realpath -m "$output")
cd "$source_dir"
log() { echo "build-image: $*"; }
[ "$(id -u)" -eq 0 ] || { echo "build-image: run as root (mmdebstrap chroot mode, rootful podman)" >&2; exit 1; }

mapfile -t tool_packages < <(sed 's/#.*//' deploy/image-tools.txt | awk 'NF {print $1}')
host_packages=(mmdebstrap binutils)
[ $import -eq 1 ] && host_packages+=(podman)
missing=()
for p in "${host_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "$tag" ]; then
  version=$(git -C "$source_dir" describe --tags --always --dirty 2>/dev/null ||
            sed -n 's/^project(probesnat VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
  tag=probesnat:$version
fi
version=${tag##*:}

if [ $build -eq 1 ] && [ ! -f "$build_dir/CMakeCache.txt" ]; then
  log "configuring a Release build in $build_dir"
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
if [ $build -eq 1 ]; then
  log "building probesnatd probesnatctl probesnat-cni in $build_dir (${build_type:-no build type})"
  cmake --build "$build_dir" -j"$(nproc)" --target probesnatd probesnatctl probesnat-cni >/dev/null
else
  log "using the binaries in $build_dir as built (${build_type:-no build type})"
fi

work=$build_dir/image
mkdir -p "$work/bin" "$work/debs"
for b in agent/daemon/probesnatd agent/cli/probesnatctl agent/cni/probesnat-cni; do
  strip --strip-all -o "$work/bin/${b##*/}" "$build_dir/$b"
done
log "stripped: $(cd "$work/bin" && for f in *; do printf '%s %s  ' "$f" "$(du -h "$f" | cut -f1)"; done)"

# The packages: from the libraries the binaries load, never from a hand-kept list.
{ scripts/runtime-packages.sh "$work"/bin/*; printf '%s\n' "${tool_packages[@]}"; } | sort -u >"$work/packages.txt"
log "packages: $(tr '\n' ' ' <"$work/packages.txt")"

# The host's own apt sources (its mirror, or a proxy): the machine may reach no other.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] && grep -q '^[^#]' "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { echo "build-image: no apt sources in /etc/apt" >&2; exit 1; }

# Variant essential: Essential:yes packages only (minbase without apt), merged /usr set up by the
# debootstrap method (the usrmerge package would pull in perl). No manuals, docs (but copyrights),
# locales; dpkg without fsync (a failed run is thrown away). Downloaded .debs are kept in debs/ and
# handed back on the next run. SOURCE_DATE_EPOCH (the commit's time): mmdebstrap leaves no logs or
# machine id that differ between runs, and the layer's file times are clamped to it.
rm -rf "$work/rootfs"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$source_dir" log -1 --format=%ct 2>/dev/null || date +%s)}
log "mmdebstrap bookworm -> $work/rootfs (sources: ${sources[*]}; log: $work/mmdebstrap.log)"
mmdebstrap --mode=root --variant=essential \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include="$(paste -sd, "$work/packages.txt")" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt=force-unsafe-io \
  --skip=essential/unlink --skip=download/empty \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
  --setup-hook="sync-in $work/debs /var/cache/apt/archives" \
  --customize-hook="sync-out /var/cache/apt/archives $work/debs" \
  --customize-hook="copy-in $work/bin/probesnatd $work/bin/probesnatctl $work/bin/probesnat-cni $source_dir/deploy/install-cni.sh /usr/local/bin" \
  --customize-hook='mkdir -p "$1"/run/probesnat "$1"/run/netns' \
  --customize-hook='sed -i /force-unsafe-io/d "$1"/etc/dpkg/dpkg.cfg.d/99mmdebstrap' \
  bookworm "$work/rootfs" "${sources[@]}" >"$work/mmdebstrap.log" 2>&1 ||
  { tail -30 "$work/mmdebstrap.log" >&2; echo "build-image: mmdebstrap failed (log: $work/mmdebstrap.log)" >&2; exit 1; }
rm -f "$work/debs/lock"
log "root file system: $(du -sh "$work/rootfs" | cut -f1), $(chroot "$work/rootfs" dpkg-query -W | wc -l) packages"
[ $import -eq 1 ] || exit 0

revision=$(git -C "$source_dir" rev-parse HEAD 2>/dev/null || echo unknown)
log "podman import -> $tag"
tar -C "$work/rootfs" --numeric-owner --sort=name --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime -c . |
  podman import --quiet \
    --change 'ENTRYPOINT ["/usr/local/bin/probesnatd"]' \
    --change "LABEL org.opencontainers.image.title=probesnat" \
    --change "LABEL org.opencontainers.image.version=$version" \
    --change "LABEL org.opencontainers.image.revision=$revision" \
    - "$tag" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
log "image $tag: $((size / 1024 / 1024)) MiB ($size bytes)"
if [ -n "$output" ]; then
  rm -f "$output"
  podman save --quiet --format oci-archive -o "$output" "$tag"
  log "OCI archive $output: $(du -h "$output" | cut -f1)"
fi
