#pragma once

#include <iosfwd>
#include <string>

namespace probesnat::cli {

struct UninstallArgs {
  std::string run_dir = "/run/probesnat";  // the agent's run directory (its socket's directory)
};

// `probesnatctl uninstall`: records an uninstall request in the agent's run directory, so that the
// agent, when it stops next, removes its node and pod tables and its state file instead of keeping
// them for a restart, and install-cni's stop removes the CNI conflist entry. 0 when the request is
// recorded (or was already), 2 on error.
int RunUninstall(const UninstallArgs& args, std::ostream& out, std::ostream& err);

}  // namespace probesnat::cli
