#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "agent/cli/agent_commands.h"

namespace probesnat::cli {

// `probesnatctl check --agent UID... | -f pod.yaml`: the running agent's Policy.Check of each pod
// (an enrolled pod by its uid, or the pods of a file) against the agent's own policy snapshot and
// enrolled pods. Nothing is enrolled or changed.
struct AgentCheckArgs {
  AgentArgs agent;                // socket, timeout, file ("" none, "-" stdin)
  std::vector<std::string> uids;  // enrolled pods, asked of the agent with Get
  std::vector<int> probe_ports;   // probed besides each pod's own probe ports
  std::string output = "text";    // text | json | yaml | fixes, as check --cluster
};

// 0 compatible, 1 findings (WARNING/ERROR), 2 error: the agent unreachable, a uid it does not
// know, a bad file, no policy snapshot loaded in the agent (nothing to check against), or with
// -o fixes two pods needing different corrections of one policy.
int RunAgentCheck(const AgentCheckArgs& args, std::ostream& out, std::ostream& err);

}  // namespace probesnat::cli
