#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/domain/finding.h"
#include "agent/domain/pod_spec.h"

namespace probesnat::agent {

enum class PodPhase { kPending, kApplied, kFailed, kRemoved };
absl::string_view PodPhaseName(PodPhase phase);  // "PENDING", "APPLIED", "FAILED", "REMOVED"

// What the agent reports of one pod: its desired spec and how far it is applied.
struct PodState {
  PodSpec spec;
  PodPhase phase = PodPhase::kPending;
  std::string reason;             // why it is FAILED (or what is pending)
  std::vector<Finding> findings;  // of the NetworkPolicy check at its last enrollment
  absl::Time updated;
  uint64_t generation = 0;  // bumps on every change to the desired spec

  bool operator==(const PodState&) const = default;
};

}  // namespace probesnat::agent
