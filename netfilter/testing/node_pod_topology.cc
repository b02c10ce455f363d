#include "netfilter/testing/node_pod_topology.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace probesnat::netfilter::testing {

absl::Status WireNodePodTopology(const ScopedNetns& node, const ScopedNetns& pod,
                                 const ScopedNetns& outside,
                                 const NodePodTopologyOptions& options) {
  const std::string& n = node.name();
  const std::string& p = pod.name();
  const std::string& o = outside.name();
  std::vector<std::string> commands;
  for (const std::string& ns : {n, p, o}) {
    commands.push_back(absl::StrCat("ip netns exec ", ns,
                                    " sysctl -qw net.ipv6.conf.all.accept_dad=0"
                                    " net.ipv6.conf.default.accept_dad=0"));
  }
  commands.push_back(absl::StrCat("ip -n ", n, " link add vpod type veth peer name eth0 netns ", p));
  commands.push_back(absl::StrCat("ip -n ", n, " link add vout type veth peer name eth0 netns ", o));
  for (const char* a : {"10.200.1.1/24 dev vpod", "fd00:1::1/64 dev vpod nodad",
                        "10.200.2.1/24 dev vout", "fd00:2::1/64 dev vout nodad"}) {
    commands.push_back(absl::StrCat("ip -n ", n, " addr add ", a));
  }
  std::vector<std::string> pod_addresses = {"10.200.1.2/24 dev eth0", "fd00:1::2/64 dev eth0 nodad"};
  pod_addresses.insert(pod_addresses.end(), options.more_pod_addresses.begin(),
                       options.more_pod_addresses.end());
  for (const std::string& a : pod_addresses) {
    commands.push_back(absl::StrCat("ip -n ", p, " addr add ", a));
  }
  std::vector<std::string> outside_addresses = {"10.200.2.2/24 dev eth0",
                                                "fd00:2::2/64 dev eth0 nodad"};
  outside_addresses.insert(outside_addresses.end(), options.more_outside_addresses.begin(),
                           options.more_outside_addresses.end());
  for (const std::string& a : outside_addresses) {
    commands.push_back(absl::StrCat("ip -n ", o, " addr add ", a));
  }
  for (const auto& [ns, link] : {std::pair{n, "vpod"}, {n, "vout"}, {p, "eth0"}, {o, "eth0"}}) {
    commands.push_back(absl::StrCat("ip -n ", ns, " link set ", link, " up"));
  }
  commands.push_back(absl::StrCat("ip -n ", p, " route add default via 10.200.1.1"));
  commands.push_back(absl::StrCat("ip -n ", p, " -6 route add default via fd00:1::1"));
  commands.push_back(absl::StrCat("ip -n ", o, " route add default via 10.200.2.1"));
  commands.push_back(absl::StrCat("ip -n ", o, " -6 route add default via fd00:2::1"));
  if (options.node_default_via_outside) {
    commands.push_back(absl::StrCat("ip -n ", n, " route add default via 10.200.2.2"));
    commands.push_back(absl::StrCat("ip -n ", n, " -6 route add default via fd00:2::2"));
  }
  commands.push_back(absl::StrCat("ip netns exec ", n,
                                  " sysctl -qw net.ipv4.ip_forward=1"
                                  " net.ipv6.conf.all.forwarding=1"));
  for (const std::string& command : commands) {
    if (absl::Status st = Run(command); !st.ok()) {
      return absl::InternalError(absl::StrCat("topology: `", command, "`: ", st.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace probesnat::netfilter::testing
