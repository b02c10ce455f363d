#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/domain/finding.h"
#include "agent/domain/pod_spec.h"

namespace probesnat::agent {

// What a PolicyGate checks against.
struct PolicySnapshotInfo {
  bool loaded = false;
  absl::Time loaded_at = absl::InfinitePast();  // when it was loaded (valid when loaded)
  std::string source;                           // who loaded it, e.g. "Policy.ReplaceSnapshot ..."
  size_t namespaces = 0;
  size_t pods = 0;
  size_t policies = 0;
};

// Answers "what would enrolling this pod break under the NetworkPolicies the CNI enforces?".
// Implemented by the policy engine over the current snapshot; the daemon consults it before Enroll.
// With no snapshot loaded Check returns no findings: a caller must look at Snapshot() to tell "no
// finding" from "nothing checked" (the daemon refuses in enforce mode, daemon/policy_admission.h).
class PolicyGate {
 public:
  virtual ~PolicyGate() = default;
  // `pod` is the pod as enrolled (labels, IPs, container ports, probe ports); it need not be part
  // of the snapshot. Thread-safe. Errors: the check could not be made; the caller must not treat
  // that as "no findings".
  virtual absl::StatusOr<std::vector<Finding>> Check(const PodSpec& pod) const = 0;
  // Whether a snapshot is loaded, since when and from where. Thread-safe.
  virtual PolicySnapshotInfo Snapshot() const = 0;
};

}  // namespace probesnat::agent
