#!/usr/bin/env bash
# The ctest fixture of the image tests: scripts/build-image.sh on the test's own build tree (its
# binaries as built, stripped copies), tagged TAG, also saved as an OCI archive that is checked to
# be an OCI image layout with one manifest.
#   image_build_test.sh BUILD_DIR TAG
set -euo pipefail
build=$(realpath "${1:?usage: image_build_test.sh BUILD_DIR TAG}")
tag=${2:?usage: image_build_test.sh BUILD_DIR TAG}
here=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mmdebstrap, rootful podman)"; exit 77; }
archive=$build/image/probesnat-ctest.oci.tar
"$here/scripts/build-image.sh" --build-dir "$build" --no-build --tag "$tag" --output "$archive"
layout=$(tar -xOf "$archive" oci-layout | jq -r .imageLayoutVersion)
manifests=$(tar -xOf "$archive" index.json | jq '.manifests | length')
[ "$layout" = 1.0.0 ] && [ "$manifests" = 1 ] ||
  { echo "FAIL: $archive: oci-layout '$layout', $manifests manifests"; exit 1; }
echo "ok: $archive is an OCI image layout with one manifest"
