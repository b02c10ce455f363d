#pragma once

#include <string>

#include "agent/policy/model.h"

namespace probesnat::policy {

// A complete networking.k8s.io/v1 NetworkPolicy manifest (block-style YAML) for `kubectl apply`.
std::string PolicyToYaml(const NetworkPolicy& policy);

}  // namespace probesnat::policy
