#include "agent/domain/pod_state.h"

namespace probesnat::agent {

absl::string_view PodPhaseName(PodPhase phase) {
  switch (phase) {
    case PodPhase::kPending:
      return "PENDING";
    case PodPhase::kApplied:
      return "APPLIED";
    case PodPhase::kFailed:
      return "FAILED";
    case PodPhase::kRemoved:
      return "REMOVED";
  }
  return "?";
}

}  // namespace probesnat::agent
