#pragma once

#include "absl/status/statusor.h"
#include "agent/policy/analysis.h"

namespace probesnat::policy::testing {

// The cluster after `kubectl apply` of every corrected policy in `report` (parsed back from the
// YAML, exactly as a user would apply it). Errors: a fix does not parse or is not one policy.
absl::StatusOr<Cluster> ApplyFixes(Cluster cluster, const Report& report);

}  // namespace probesnat::policy::testing
