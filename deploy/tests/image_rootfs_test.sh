#!/usr/bin/env bash
# Checks the image's root file system that scripts/build-image.sh left in IMAGE_DIR/rootfs:
# every library the binaries load resolves inside it and they run there, they are stripped, and
# the installed packages are exactly bookworm's Essential set plus the packages the binaries' own
# libraries and install-cni.sh need, with their dependencies.
#   image_rootfs_test.sh IMAGE_DIR       (DIR/image of the build tree)
set -euo pipefail
image=$(realpath "${1:?usage: image_rootfs_test.sh IMAGE_DIR}")
here=$(cd "$(dirname "$0")/../.." && pwd)
rootfs=$image/rootfs
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (chroot)"; exit 77; }
[ -d "$rootfs/usr" ] || { echo "FAIL: no root file system in $rootfs (run scripts/build-image.sh)"; exit 1; }
binaries=(probesnatd probesnatctl probesnat-cni)
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

for b in "${binaries[@]}"; do
  path=/usr/local/bin/$b
  if ! listing=$(chroot "$rootfs" ldd "$path" 2>&1); then
    bad "$b: ldd in the rootfs failed: $listing"
    continue
  fi
  if grep -q 'not found' <<<"$listing"; then
    bad "$b: unresolved in the rootfs: $(grep 'not found' <<<"$listing" | tr -s ' \t' ' ')"
  else
    ok "$b: all $(grep -c '=>' <<<"$listing") libraries resolve in the rootfs"
  fi
  # The loader of the rootfs really maps them: the binary runs there (a CNI plugin takes its
  # command from the environment).
  if [ "$b" = probesnat-cni ]; then run=(env CNI_COMMAND=VERSION "$path"); else run=("$path" --version); fi
  if out=$(chroot "$rootfs" "${run[@]}" 2>&1 </dev/null); then
    ok "$b runs in the rootfs: $out"
  else
    bad "${run[*]} in the rootfs failed: $out"
  fi
  sections=$(readelf -S --wide "$rootfs$path" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\.(symtab|strtab|debug|zdebug)/) print $i}')
  if [ -z "$sections" ]; then ok "$b is stripped"; else bad "$b is not stripped: $(echo $sections)"; fi
done

# install-cni.sh's interpreter and the commands it runs.
absent=()
for cmd in bash jq mktemp cp chmod mv cat dirname sleep sh; do
  chroot "$rootfs" sh -c "command -v $cmd" >/dev/null || absent+=("$cmd")
done
[ ${#absent[@]} -eq 0 ] && ok "install-cni.sh's commands are present" || bad "missing for install-cni.sh: ${absent[*]}"
if out=$(chroot "$rootfs" /usr/local/bin/install-cni.sh 2>&1); then
  bad "install-cni.sh without a command succeeded"
else
  grep -q usage <<<"$out" && ok "install-cni.sh runs in the rootfs (usage)" || bad "install-cni.sh: $out"
fi

# The needed packages, derived again inside the rootfs, are the ones build-image.sh asked for.
needed=$( { "$here/scripts/runtime-packages.sh" --chroot "$rootfs" "${binaries[@]/#//usr/local/bin/}"
           sed 's/#.*//' "$here/deploy/image-tools.txt" | awk 'NF {print $1}'; } | sort -u)
if [ "$needed" = "$(sort -u "$image/packages.txt")" ]; then
  ok "packages from ldd + dpkg -S in the rootfs = build-image.sh's list ($(echo $needed))"
else
  bad "rootfs-derived packages ($(echo $needed)) differ from packages.txt ($(tr '\n' ' ' <"$image/packages.txt"))"
fi

# Nothing else: every installed package is Essential, needed, or a dependency of one of those
# (Depends / Pre-Depends, any installed alternative or provider of a virtual package), and
# usr-is-merged (the merged-/usr hook).
allowed=$(chroot "$rootfs" dpkg-query -W -f '${Package}\t${Essential}\t${Provides}\t${Depends}, ${Pre-Depends}\n' |
  python3 -c '
import re, sys
needed = set(sys.argv[1].split())
def names(field):  # "a (>= 1) | b:any, c" -> [["a", "b"], ["c"]]
    return [[re.split(r"[ :(]", alt.strip())[0] for alt in clause.split("|")]
            for clause in field.split(",") if clause.strip()]
deps, providers, roots = {}, {}, set(needed) | {"usr-is-merged"}
for line in sys.stdin:
    name, essential, provides, depends = line.rstrip("\n").split("\t")
    deps[name] = names(depends)
    providers.setdefault(name, set()).add(name)
    for (virtual, *_) in names(provides):
        providers.setdefault(virtual, set()).add(name)
    if essential == "yes":
        roots.add(name)
seen, todo = set(), [r for r in roots if r in deps]
while todo:
    name = todo.pop()
    if name in seen:
        continue
    seen.add(name)
    for clause in deps[name]:
        todo += [p for alt in clause for p in providers.get(alt, ())]
print("\n".join(sorted(seen)))
' "$needed")
installed=$(chroot "$rootfs" dpkg-query -W -f '${Package}\n' | sort)
extra=$(comm -23 <(echo "$installed") <(echo "$allowed"))
if [ -z "$extra" ]; then
  ok "all $(wc -l <<<"$installed") installed packages are Essential, needed or their dependencies"
else
  bad "packages installed beyond Essential + needed: $(echo $extra)"
fi
unwanted=$(comm -12 <(echo "$installed") <(printf '%s\n' apt perl perl-modules-5.36 usrmerge))
[ -z "$unwanted" ] && ok "no apt, perl or usrmerge" || bad "installed though not needed: $(echo $unwanted)"
missing=$(comm -13 <(echo "$installed") <(echo "$needed"))
[ -z "$missing" ] && ok "every needed package is installed" || bad "needed but not installed: $(echo $missing)"

echo "image rootfs ($(du -sh "$rootfs" | cut -f1)): $passed passed, $failed failed"
[ $failed -eq 0 ]
