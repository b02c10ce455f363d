#pragma once

#include <iosfwd>
#include <string>

#include "absl/status/status.h"

namespace probesnat::cli {

// What the commands that talk to a running probesnatd share.
struct AgentArgs {
  std::string socket = "/run/probesnat/probesnat.sock";
  std::string output = "table";  // table, wide, json or yaml
  double timeout_seconds = 5;
  std::string uid;   // get, unenroll
  std::string file;  // enroll -f, sync -f ("-" is stdin)
  std::string policy_mode;  // enroll, sync: "" (the agent's), off, warn or enforce
  bool initial_state = true;  // watch
};

// The error text for a call to the agent on `socket` that failed; when the agent cannot be
// reached it names the socket tried and what to do.
std::string AgentErrorText(const std::string& socket, const absl::Status& st);

// `probesnatctl status`: health, pods by phase, the policy snapshot. 0 when the agent serves,
// 1 when it answers but is not SERVING, 2 when it cannot be reached or asked.
int RunStatus(const AgentArgs& args, std::ostream& out, std::ostream& err);
// `probesnatctl list`: every enrolled pod, one per line (or json/yaml). 0, or 2 on error.
int RunList(const AgentArgs& args, std::ostream& out, std::ostream& err);
// `probesnatctl get UID`: one pod with its findings. 0; 1 when the agent does not know it; 2 on error.
int RunGet(const AgentArgs& args, std::ostream& out, std::ostream& err);
// `probesnatctl unenroll UID`: removes the pod's rules. 0 (also when it was not enrolled, said so
// on stderr), 2 on error.
int RunUnenroll(const AgentArgs& args, std::ostream& out, std::ostream& err);

// `probesnatctl enroll -f pod.yaml`: enrolls each pod of the file (pod_file.h), prints its status.
// 0 all applied, 1 one was refused or failed (the agent's reason on stderr), 2 on error.
int RunEnroll(const AgentArgs& args, std::ostream& out, std::ostream& err);
// `probesnatctl sync -f pods.yaml`: the file is the whole desired set of this node (pods not in it
// are unenrolled). 0 all applied, 1 some failed, 2 on error.
int RunSync(const AgentArgs& args, std::ostream& out, std::ostream& err);
// `probesnatctl watch`: one line per pod event until SIGINT/SIGTERM (exit 0) or the agent ends
// the stream (exit 2).
int RunWatch(const AgentArgs& args, std::ostream& out, std::ostream& err);

}  // namespace probesnat::cli
