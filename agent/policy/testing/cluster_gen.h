#pragma once

#include <cstdint>

#include "agent/policy/model.h"

namespace probesnat::policy::testing {

struct GenOptions {
  int namespaces = 5;
  int pods = 40;      // spread over the namespaces
  int policies = 20;  // spread over the namespaces
  bool dual_stack = true;
  bool host_network = true;  // a few hostNetwork pods
};

// A deterministic random cluster mixing every construct the engine understands: named ports,
// endPort ranges, UDP/SCTP rules, ipBlocks with except, AND/OR peers, matchExpressions, deny-all,
// egress rules, probes on named and numeric ports, pods without IPs.
Cluster GenerateCluster(const GenOptions& options, uint32_t seed);

}  // namespace probesnat::policy::testing
