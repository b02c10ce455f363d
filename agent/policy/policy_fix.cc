#include "agent/policy/policy_fix.h"

namespace probesnat::policy {

NetworkPolicy ApplyEdit(const NetworkPolicy& policy, const PolicyEdit& edit,
                        const FixAddresses& addresses) {
  NetworkPolicy out = policy;
  PortSpec tunnel;
  tunnel.protocol = Protocol::kTCP;
  tunnel.protocol_explicit = true;
  tunnel.has_port = true;
  tunnel.number = addresses.tunnel_port;
  for (int d = 0; d < 2; ++d) {
    std::vector<Rule>& rules = d == 0 ? out.ingress : out.egress;
    for (int r : edit.tunnel_port_rules[d]) {
      if (r >= 0 && r < static_cast<int>(rules.size())) {
        rules[r].ports.push_back(tunnel);
      }
    }
  }
  if (!edit.probe_ports.empty() && (edit.probe_v4 || edit.probe_v6)) {
    Rule rule;
    if (edit.probe_v4) {
      rule.peers.push_back({{}, {}, IpBlock{Cidr::Host(addresses.probe_v4), {}}});
    }
    if (edit.probe_v6) {
      rule.peers.push_back({{}, {}, IpBlock{Cidr::Host(addresses.probe_v6), {}}});
    }
    for (int port : edit.probe_ports) {
      PortSpec ps;
      ps.protocol_explicit = true;
      ps.has_port = true;
      ps.number = port;
      rule.ports.push_back(ps);
    }
    out.ingress.push_back(std::move(rule));
    // Without explicit policyTypes Ingress is implied; with them the chosen policy has Ingress.
  }
  return out;
}

}  // namespace probesnat::policy
