#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace probesnat::agent {

enum class Severity { kInfo = 1, kWarning = 2, kError = 3 };
enum class FindingKind {
  kHboneIngress = 1,
  kHboneEgress = 2,
  kProbeIngress = 3,
  kNotChecked = 4,  // the pod was not checked: no policy snapshot loaded, or the check failed
};
enum class Direction { kIngress, kEgress };

absl::string_view SeverityName(Severity s);        // "INFO", "WARNING", "ERROR"
absl::string_view FindingKindName(FindingKind k);  // "HBONE_INGRESS", ...
absl::string_view DirectionName(Direction d);      // "ingress", "egress"

// What enrolling a pod would break under a NetworkPolicy, and how to fix the policy.
struct Finding {
  Severity severity = Severity::kError;
  FindingKind kind = FindingKind::kHboneIngress;
  std::string subject;  // "ns/pod" the finding concerns
  std::string policy_namespace;
  std::string policy_name;
  int rule_index = -1;  // index in spec.ingress / spec.egress; -1 for the policy as a whole
  Direction direction = Direction::kIngress;
  std::string message;                      // what breaks, in words a person can act on
  std::vector<std::string> affected_peers;  // "ns/pod" or CIDR
  bool cni_dependent = false;               // the effect depends on how the CNI treats node traffic
  std::string fix_yaml;                     // the corrected policy, ready for kubectl apply

  bool operator==(const Finding&) const = default;
};

// A finding blocks enrollment in enforce mode when its severity is WARNING or ERROR.
inline bool IsBlocking(const Finding& f) { return f.severity >= Severity::kWarning; }

}  // namespace probesnat::agent
