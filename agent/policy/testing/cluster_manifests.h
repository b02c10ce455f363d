#pragma once

#include <string>

#include "agent/policy/model.h"

namespace probesnat::policy::testing {

// `c` as the multi-document YAML `kubectl get ns,pods,networkpolicies -A -o yaml` would give
// (Namespaces, Pods with labels, ports, probes and IPs, NetworkPolicies): what the manifest loader
// and Policy.ReplaceSnapshot read.
std::string ClusterManifests(const Cluster& c);

}  // namespace probesnat::policy::testing
