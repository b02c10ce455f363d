#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "agent/policy/evaluator.h"

namespace probesnat::cli {

struct EvalArgs {
  std::vector<std::string> clusters;
  std::string queries;  // JSONL file, "-" for stdin; empty: the single-query flags
  std::string from;
  std::string to;
  int port = 0;
  std::string protocol = "TCP";
  bool own_node_always_allowed = true;
};

// One query {"from", "to", "port", "protocol"?} -> {"allowed", "from", "to", "port", "protocol",
// "family", "egress", "ingress", "reason"}.
absl::StatusOr<nlohmann::ordered_json> EvalQuery(const policy::Evaluator& ev,
                                                 const nlohmann::json& query);

// `probesnatctl policy eval`. Exit 0 when every query was evaluated, 2 on invalid input (bad
// flags, unreadable cluster, a query line that cannot be evaluated: its output line is
// {"error": "..."} so that lines stay aligned).
int RunEval(const EvalArgs& args, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace probesnat::cli
