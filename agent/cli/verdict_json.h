#pragma once

#include <nlohmann/json.hpp>

#include "agent/policy/evaluator.h"

namespace probesnat::cli {

// {"allowed": bool, "family", "egress": {...}, "ingress": {...}, "reason"}; each direction has
// applies/isolated/allowed, the isolating "policies" ("ns/name") and the "allowed_by" rules.
nlohmann::ordered_json VerdictToJson(const policy::Evaluator& ev, const policy::Verdict& v);

}  // namespace probesnat::cli
