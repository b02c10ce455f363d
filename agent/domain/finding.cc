#include "agent/domain/finding.h"

namespace probesnat::agent {

absl::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "INFO";
    case Severity::kWarning:
      return "WARNING";
    case Severity::kError:
      return "ERROR";
  }
  return "?";
}

absl::string_view FindingKindName(FindingKind k) {
  switch (k) {
    case FindingKind::kHboneIngress:
      return "HBONE_INGRESS";
    case FindingKind::kHboneEgress:
      return "HBONE_EGRESS";
    case FindingKind::kProbeIngress:
      return "PROBE_INGRESS";
    case FindingKind::kNotChecked:
      return "NOT_CHECKED";
  }
  return "?";
}

absl::string_view DirectionName(Direction d) {
  return d == Direction::kIngress ? "ingress" : "egress";
}

}  // namespace probesnat::agent
