#include "agent/cli/shell_completion.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace probesnat::cli {
namespace {

// The completion function; @...@ are filled in. For each word before the cursor it tracks the
// subcommand path (a word after an option that takes a value is that value, never a subcommand),
// then offers that value's hints, the options, the subcommands or the positional's hints.
constexpr char kBashTemplate[] = R"(# bash completion for @NAME@, printed by `@NAME@ completion bash`.
# Load it now: source <(@NAME@ completion bash)
# or for every shell: @NAME@ completion bash > /etc/bash_completion.d/@NAME@
@FN@_node() {
  case "$1" in
@NODES@    *) cmds=""; opts=""; valopts="" ;;
  esac
}
@FN@() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="" path="" skip=0 i w cmds opts valopts
  (( COMP_CWORD > 0 )) && prev="${COMP_WORDS[COMP_CWORD-1]}"
  COMPREPLY=()
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    @FN@_node "$path"
    if [[ " $valopts " == *" $w "* ]]; then
      skip=1
    elif [[ $w != -* && " $cmds " == *" $w "* ]]; then
      path="$path/$w"
    fi
  done
  @FN@_node "$path"
  if (( skip )); then
    case "$path $prev" in
@VALUES@    esac
    return  # a value nobody can guess
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  if [[ -n $cmds ]]; then
    COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
    return
  fi
  case "$path" in
@POSITIONALS@  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F @FN@ @NAME@
)";

constexpr char kZshHeader[] = R"(#compdef @NAME@
# zsh completion for @NAME@, printed by `@NAME@ completion zsh`: the bash completion under zsh's
# bashcompinit. Load it now: source <(@NAME@ completion zsh), or save it as _@NAME@ in $fpath.
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
)";

// One subcommand as the script sees it: its path ("" for the program, "/policy/eval"), what may
// follow it.
struct Node {
  std::string path;
  std::string key;  // "policy eval": how hints name it
  std::vector<std::string> subcommands;
  std::vector<std::string> flags;          // take no value
  std::vector<std::string> value_options;  // take a value (the next word)
  std::vector<std::string> hint_names;     // per value option: its first long name, for hints
  std::vector<std::string> positionals;
};

std::vector<Node> Walk(const CLI::App& app) {
  std::vector<Node> nodes;
  std::function<void(const CLI::App&, const std::string&, const std::string&)> visit =
      [&](const CLI::App& cmd, const std::string& path, const std::string& key) {
        Node node{path, key, {}, {}, {}, {}, {}};
        for (const CLI::Option* opt : cmd.get_options()) {
          if (opt->get_positional() && opt->get_lnames().empty() && opt->get_snames().empty()) {
            node.positionals.push_back(opt->get_name(true, false));
            continue;
          }
          std::vector<std::string> spellings;
          for (const std::string& l : opt->get_lnames()) {
            spellings.push_back("--" + l);
          }
          for (const std::string& s : opt->get_snames()) {
            spellings.push_back("-" + s);
          }
          if (opt->get_items_expected_max() == 0) {  // a flag
            node.flags.insert(node.flags.end(), spellings.begin(), spellings.end());
            continue;
          }
          for (const std::string& spelling : spellings) {
            node.value_options.push_back(spelling);
            node.hint_names.push_back(spellings.front());
          }
        }
        const std::vector<const CLI::App*> subs =
            cmd.get_subcommands([](const CLI::App*) { return true; });
        for (const CLI::App* sub : subs) {
          node.subcommands.push_back(sub->get_name());
        }
        nodes.push_back(node);
        for (const CLI::App* sub : subs) {
          visit(*sub, path + "/" + sub->get_name(),
                key.empty() ? sub->get_name() : key + " " + sub->get_name());
        }
      };
  visit(app, "", "");
  return nodes;
}

// A word list for a shell script: the words are our own option and command names, never input.
std::string Words(const std::vector<std::string>& words) { return absl::StrJoin(words, " "); }

const CompletionValues* Hint(const CompletionHints& hints, const Node& node,
                             const std::string& name) {
  if (auto it = hints.find(absl::StrCat(node.key, " ", name)); it != hints.end()) {
    return &it->second;
  }
  if (auto it = hints.find(name); it != hints.end()) {
    return &it->second;
  }
  return nullptr;
}

std::string Reply(const CompletionValues& v) {
  if (v.files) {
    return "COMPREPLY=($(compgen -f -- \"$cur\")); compopt -o filenames 2>/dev/null";
  }
  return absl::StrCat("COMPREPLY=($(compgen -W \"", Words(v.words), "\" -- \"$cur\"))");
}

}  // namespace

std::string BashCompletionScript(const CLI::App& app, const CompletionHints& hints) {
  const std::string name = app.get_name().empty() ? "probesnatctl" : app.get_name();
  const std::string fn = "_" + absl::StrReplaceAll(name, {{"-", "_"}});
  const std::vector<Node> nodes = Walk(app);

  std::string node_cases, value_cases, positional_cases;
  for (const Node& node : nodes) {
    std::vector<std::string> options = node.flags;
    options.insert(options.end(), node.value_options.begin(), node.value_options.end());
    absl::StrAppend(&node_cases, "    \"", node.path, "\") cmds=\"", Words(node.subcommands),
                    "\"; opts=\"", Words(options), "\"; valopts=\"", Words(node.value_options),
                    "\" ;;\n");
    for (size_t i = 0; i < node.value_options.size(); ++i) {
      if (const CompletionValues* v = Hint(hints, node, node.hint_names[i])) {
        absl::StrAppend(&value_cases, "    \"", node.path, " ", node.value_options[i], "\") ",
                        Reply(*v), "; return ;;\n");
      }
    }
    for (const std::string& pos : node.positionals) {
      if (const CompletionValues* v = Hint(hints, node, pos)) {
        absl::StrAppend(&positional_cases, "    \"", node.path, "\") ", Reply(*v), "; return ;;\n");
      }
    }
  }
  return absl::StrReplaceAll(kBashTemplate, {{"@NAME@", name},
                                             {"@FN@", fn},
                                             {"@NODES@", node_cases},
                                             {"@VALUES@", value_cases},
                                             {"@POSITIONALS@", positional_cases}});
}

std::string ZshCompletionScript(const CLI::App& app, const CompletionHints& hints) {
  const std::string name = app.get_name().empty() ? "probesnatctl" : app.get_name();
  return absl::StrCat(absl::StrReplaceAll(kZshHeader, {{"@NAME@", name}}),
                      BashCompletionScript(app, hints));
}

}  // namespace probesnat::cli
