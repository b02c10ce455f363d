#pragma once

#include <string>
#include <vector>

#include "agent/domain/finding.h"

namespace probesnat::daemon {

// The outcome of the NetworkPolicy check for one pod (AdmitPod).
struct Admission {
  bool refused = false;
  std::vector<agent::Finding> findings;  // reported in the pod's state (warn) or the refusal
  std::string refusal;  // when refused: every blocking finding, for a person to act on
};

}  // namespace probesnat::daemon
