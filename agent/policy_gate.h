#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "agent/domain/finding.h"
#include "agent/domain/pod_spec.h"

namespace probesnat::agent {

// Answers "what would enrolling this pod break under the NetworkPolicies the CNI enforces?".
// Implemented by the policy engine over the current snapshot; the daemon consults it before Enroll.
// With no snapshot loaded it returns no findings.
class PolicyGate {
 public:
  virtual ~PolicyGate() = default;
  // `pod` is the pod as enrolled (labels, IPs, container ports, probe ports); it need not be part
  // of the snapshot. Thread-safe. Errors: the check could not be made; the caller must not treat
  // that as "no findings".
  virtual absl::StatusOr<std::vector<Finding>> Check(const PodSpec& pod) const = 0;
};

}  // namespace probesnat::agent
