#pragma once

#include <string>
#include <vector>

#include "agent/policy_gate.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::daemon {

enum class PolicyMode { kOff, kWarn, kEnforce };

const char* PolicyModeName(PolicyMode mode);

// The request's mode when it names one, else the agent's configured mode.
PolicyMode ResolvePolicyMode(v1::PolicyMode requested, PolicyMode configured);

// The outcome of the NetworkPolicy check for one pod.
struct Admission {
  bool refused = false;
  std::vector<v1::Finding>
      findings;         // reported in PodStatus.findings (warn) or the refusal (enforce)
  std::string refusal;  // when refused: every blocking finding, for a person to act on
};

// Consults `gate` (may be null: no findings) unless the mode is off. In enforce mode any blocking
// finding refuses the pod, and so does a failed check; in warn mode a failed check is reported
// as an ERROR finding.
Admission AdmitPod(const v1::Pod& pod, PolicyMode mode, const agent::PolicyGate* gate);

}  // namespace probesnat::daemon
