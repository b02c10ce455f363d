#pragma once

#include <set>
#include <string>

#include "agent/policy/model.h"

namespace probesnat::policy {

// The minimal change the analysis asks of one NetworkPolicy.
struct PolicyEdit {
  std::set<int> tunnel_port_rules[2];  // [0] ingress, [1] egress: rules that get `<tunnel>/TCP`
  std::set<int> probe_ports;           // an added ingress rule from the probe address(es)
  bool probe_v4 = false;
  bool probe_v6 = false;
  bool empty() const {
    return tunnel_port_rules[0].empty() && tunnel_port_rules[1].empty() && probe_ports.empty();
  }
};

struct FixAddresses {
  IpAddress probe_v4;
  IpAddress probe_v6;
  int tunnel_port = 15008;
};

// The corrected policy: the listed rules gain the tunnel port (TCP), and one ingress rule is added
// `from: [ipBlock: <probe>/32 (and /128)]` restricted to the probe ports.
NetworkPolicy ApplyEdit(const NetworkPolicy& policy, const PolicyEdit& edit,
                        const FixAddresses& addresses);

}  // namespace probesnat::policy
