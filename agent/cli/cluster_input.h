#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/policy/model.h"

namespace probesnat::cli {

// Loads every --cluster path; invalid objects are reported on `warnings` (one line each) and
// skipped. Errors: a path cannot be read or is not YAML/JSON.
absl::StatusOr<policy::Cluster> LoadClusters(const std::vector<std::string>& paths,
                                             std::ostream& warnings);

}  // namespace probesnat::cli
