#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::agent {

// Answers "what would enrolling this pod break under the NetworkPolicies the CNI enforces?".
// Implemented by the policy engine over the current snapshot; the daemon consults it before Enroll.
// With no snapshot loaded it returns no findings.
class PolicyGate {
 public:
  virtual ~PolicyGate() = default;
  // `pod` is the pod as enrolled (labels, IPs, container ports, probe ports); it need not be part
  // of the snapshot. Thread-safe. Errors: the check could not be made (e.g. the pod does not
  // convert); the caller must not treat that as "no findings".
  virtual absl::StatusOr<std::vector<v1::Finding>> Check(const v1::Pod& pod) const = 0;
};

// A finding blocks enrollment in enforce mode when its severity is WARNING or ERROR.
inline bool IsBlocking(const v1::Finding& f) { return f.severity() >= v1::SEVERITY_WARNING; }

}  // namespace probesnat::agent
