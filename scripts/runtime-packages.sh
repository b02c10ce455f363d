#!/usr/bin/env bash
# Prints the Debian packages that ship the shared libraries the given ELF binaries load, one per
# line, sorted: `ldd` says which files the loader maps, `dpkg -S` which package owns each file.
#   runtime-packages.sh [--chroot ROOTFS] BINARY...
# With --chroot, ldd and dpkg run inside ROOTFS and the BINARY paths are inside it too.
# Fails if a library is not found or belongs to no package (a hand-built library cannot go into
# an image built from Debian packages).
set -euo pipefail
in=()
if [ "${1:-}" = --chroot ]; then
  in=(chroot "${2:?--chroot needs a directory}")
  shift 2
fi
[ $# -gt 0 ] || { echo "usage: runtime-packages.sh [--chroot ROOTFS] BINARY..." >&2; exit 2; }

# The package owning PATH. Bookworm's packages still ship most libraries under /lib while the
# loader may report the /usr/lib name of the same file (merged /usr), so both spellings are tried.
owner() {
  local path=$1 other out
  case $path in
    /usr/*) other=${path#/usr} ;;
    *) other=/usr$path ;;
  esac
  if out=$("${in[@]}" dpkg-query -S "$path" 2>/dev/null) || out=$("${in[@]}" dpkg-query -S "$other" 2>/dev/null); then
    echo "${out%%:*}"
  else
    echo "runtime-packages: no Debian package owns $path" >&2
    return 1
  fi
}

libraries() {  # $1 = binary; prints each library's path as the loader resolved it
  local out
  out=$("${in[@]}" ldd "$1") || { echo "runtime-packages: ldd $1 failed" >&2; return 1; }
  if grep -q 'not found' <<<"$out"; then
    echo "runtime-packages: $1: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')" >&2
    return 1
  fi
  # "libx.so.1 => /path (addr)" for libraries, "/lib64/ld-linux-x86-64.so.2 (addr)" for the loader,
  # "linux-vdso.so.1 (addr)" for the kernel's (no file).
  awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out"
}

paths=()
for binary in "$@"; do
  listing=$(libraries "$binary")
  mapfile -t -O "${#paths[@]}" paths <<<"$listing"
done
packages=()
for path in $(printf '%s\n' "${paths[@]}" | sort -u); do
  package=$(owner "$path")
  packages+=("$package")
done
printf '%s\n' "${packages[@]}" | sort -u
