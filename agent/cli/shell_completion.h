#pragma once

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace probesnat::cli {

// What a shell may offer for an option's value (or a positional): fixed words, or the names of
// files. Keyed by "<subcommand path> <option>" ("check --output", "completion shell") or, for
// every subcommand, by the option alone ("--socket").
struct CompletionValues {
  std::vector<std::string> words;
  bool files = false;
};
using CompletionHints = std::map<std::string, CompletionValues>;

// A bash completion script for `app` (its subcommands, their options and the hinted values),
// read from the CLI11 definition itself, so it cannot drift from what the program accepts.
// Defines _<name> and registers it with `complete -F`.
std::string BashCompletionScript(const CLI::App& app, const CompletionHints& hints);
// For zsh: the bash script under zsh's bashcompinit, with a #compdef header.
std::string ZshCompletionScript(const CLI::App& app, const CompletionHints& hints);

}  // namespace probesnat::cli
