#!/bin/bash
# probesnatctl completion bash: the script loads in bash and completes what the program accepts,
# driven the way bash drives it (COMP_WORDS/COMP_CWORD, then the function `complete -p` names).
# usage: completion_test.sh PROBESNATCTL
set -u
ctl="$1"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

source <("$ctl" completion bash) || { echo "FAIL: the script does not load"; exit 1; }
spec=$(complete -p probesnatctl 2>/dev/null) || fail "no completion registered for probesnatctl"
fn=$(sed -n 's/.*-F \([^ ]*\) probesnatctl$/\1/p' <<<"$spec")
[[ -n $fn ]] || { echo "FAIL: complete -p probesnatctl: '$spec'"; exit 1; }

# What completing the last word of "$@" offers, sorted, one line.
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMPREPLY=()
  "$fn" probesnatctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() {
  local want="$1"; shift
  local got
  got=$(complete_line "$@")
  [[ $got == "$want" ]] || fail "'$*' completes to '$got', want '$want'"
}

# Every subcommand --help lists, and only those.
subcommands=$("$ctl" --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z]\+\) .*/\1/p' | sort |
  tr '\n' ' ' | sed 's/ $//')
[[ -n $subcommands ]] || fail "no subcommands in probesnatctl --help"
expect "$subcommands" probesnatctl ""
for want in status list get unenroll enroll sync watch check version completion uninstall policy; do
  [[ " $subcommands " == *" $want "* ]] || fail "--help lacks subcommand $want"
done

# Each subcommand's options are the long options its --help lists.
for sub in $subcommands; do
  helped=$("$ctl" $sub --help | grep -oE '^ +(-[a-z],)?--[a-z0-9-]+' | sed 's/.*--/--/' | sort -u |
    tr '\n' ' ' | sed 's/ $//')
  offered=$(complete_line probesnatctl $sub --)
  [[ $offered == "$helped" ]] || fail "probesnatctl $sub --: offers '$offered', --help lists '$helped'"
done

expect "status sync" probesnatctl s
expect "eval" probesnatctl policy ""
expect "--agent" probesnatctl check --ag
expect "json table wide yaml" probesnatctl list -o ""
expect "fixes json text yaml" probesnatctl check -o ""
expect "fixes json text yaml" probesnatctl check --output ""
expect "enforce" probesnatctl enroll --policy-mode e
expect "bash zsh" probesnatctl completion ""
# An option's value is not a subcommand: "policy" here is a file name, so check's options follow.
expect "--agent" probesnatctl check --cluster policy --ag
expect "" probesnatctl check --cluster policy e
# Values nobody can guess are not guessed.
expect "" probesnatctl get --timeout ""
# File names where a file goes.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
touch "$dir/pod.yaml" "$dir/pods.yaml"
expect "$dir/pod.yaml $dir/pods.yaml" probesnatctl enroll -f "$dir/po"
expect "$dir/pod.yaml $dir/pods.yaml" probesnatctl check --agent --file "$dir/p"

# The zsh script is the same completion under bashcompinit.
zsh_script=$("$ctl" completion zsh)
[[ $zsh_script == "#compdef probesnatctl"* ]] || fail "completion zsh lacks #compdef"
grep -q 'bashcompinit' <<<"$zsh_script" || fail "completion zsh does not load bashcompinit"
if command -v zsh >/dev/null; then
  zsh -n <(printf '%s\n' "$zsh_script") || fail "zsh -n refuses the zsh script"
fi
bash -n <("$ctl" completion bash) || fail "bash -n refuses the bash script"
"$ctl" completion fish >/dev/null 2>&1 && fail "completion fish was accepted"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "completion: all checks passed"
