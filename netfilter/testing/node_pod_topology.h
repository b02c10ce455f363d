#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter::testing {

// The packet tests' topology: a "node" namespace that routes between a "pod" behind its veth
// `vpod` (10.200.1.0/24, fd00:1::/64; the node is .1/::1, the pod .2/::2 on its eth0) and an
// "outside" behind `vout` (10.200.2.0/24, fd00:2::/64; the outside is .2/::2). DAD is off so v6
// addresses work at once; the node forwards; pod and outside route through the node.
struct NodePodTopologyOptions {
  // More "ADDRESS/LEN dev eth0 [nodad]" arguments of `ip addr add` in the pod or the outside.
  std::vector<std::string> more_pod_addresses;
  std::vector<std::string> more_outside_addresses;
  // The node's own default routes point at the outside (10.200.2.2, fd00:2::2).
  bool node_default_via_outside = false;
};

absl::Status WireNodePodTopology(const ScopedNetns& node, const ScopedNetns& pod,
                                 const ScopedNetns& outside,
                                 const NodePodTopologyOptions& options = {});

}  // namespace probesnat::netfilter::testing
