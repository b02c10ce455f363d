#include "integration/harness/topology.h"

#include "absl/strings/str_cat.h"

namespace probesnat::integration {

using netfilter::testing::Run;
using netfilter::testing::RunAndCapture;
using netfilter::testing::ScopedNetns;

absl::Status RunIn(const std::string& ns, const std::string& command) {
  return Run(absl::StrCat("ip netns exec ", ns, " ", command));
}

absl::StatusOr<std::string> CaptureIn(const std::string& ns, const std::string& command) {
  return RunAndCapture(absl::StrCat("ip netns exec ", ns, " ", command));
}

namespace {

// IPv6 link-local addresses on fresh veths are tentative for a second or two (DAD); until then the
// node cannot send neighbour solicitations for forwarded packets, which delays the first SYN. The
// namespaces are private point-to-point links, so duplicate detection is switched off in them
// before any veth exists (the setting is per namespace).
std::string NoDadCommand(const std::string& ns) {
  return absl::StrCat(
      "ip netns exec ", ns,
      " sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0");
}

// Runs every command in order; stops at the first failure.
absl::Status RunAll(const std::vector<std::string>& commands) {
  for (const std::string& c : commands) {
    if (absl::Status st = Run(c); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Topology>> Topology::Create(const Options& options) {
  std::unique_ptr<Topology> t(new Topology());
  absl::StatusOr<ScopedNetns> node = ScopedNetns::Create("node");
  if (!node.ok()) {
    return node.status();
  }
  t->node_.emplace(std::move(*node));
  const std::string n = t->node_->name();
  // Forwarding is switched on inside the node namespace only (the sysctl files are per namespace).
  absl::Status st = RunAll({
      NoDadCommand(n),
      absl::StrCat("ip netns exec ", n, " sysctl -qw net.ipv4.ip_forward=1"),
      absl::StrCat("ip netns exec ", n, " sysctl -qw net.ipv6.conf.all.forwarding=1"),
      // New namespaces may inherit a strict reverse-path filter from the machine; a node with
      // per-pod /32 routes works either way, but keep the result independent of the host.
      absl::StrCat("ip netns exec ", n, " sysctl -qw net.ipv4.conf.all.rp_filter=0"),
      absl::StrCat("ip netns exec ", n, " sysctl -qw net.ipv4.conf.default.rp_filter=0"),
  });
  if (!st.ok()) {
    return st;
  }
  for (int i = 0; i < options.pods; ++i) {
    if (st = t->AddPod(i); !st.ok()) {
      return st;
    }
  }
  if (options.outside) {
    if (st = t->AddOutside(); !st.ok()) {
      return st;
    }
  }
  return t;
}

absl::Status Topology::AddPod(int index) {
  const char letter = static_cast<char>('a' + index);
  absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create(std::string("pod") + letter);
  if (!ns.ok()) {
    return ns.status();
  }
  PodNetwork pod;
  pod.ns.emplace(std::move(*ns));
  pod.label = std::string("pod-") + letter;
  pod.v4 = absl::StrCat("10.244.1.", 10 * (index + 1));
  pod.v6 = absl::StrCat("fd00:244:1::", 10 * (index + 1));
  pod.node_if = absl::StrCat("vp", index);
  const std::string n = node_->name();
  const std::string p = pod.name();
  const std::string& v = pod.node_if;
  absl::Status st = RunAll({
      NoDadCommand(p),
      absl::StrCat("ip -n ", n, " link add ", v, " type veth peer name eth0 netns ", p),
      absl::StrCat("ip -n ", n, " addr add ", kNodeV4, "/32 dev ", v),
      absl::StrCat("ip -n ", n, " -6 addr add ", kNodeV6, "/128 dev ", v, " nodad"),
      absl::StrCat("ip -n ", n, " link set ", v, " up"),
      absl::StrCat("ip -n ", p, " addr add ", pod.v4, "/32 dev eth0"),
      absl::StrCat("ip -n ", p, " -6 addr add ", pod.v6, "/128 dev eth0 nodad"),
      absl::StrCat("ip -n ", p, " link set eth0 up"),
      absl::StrCat("ip -n ", p, " route add ", kNodeV4, "/32 dev eth0 scope link"),
      absl::StrCat("ip -n ", p, " route add default via ", kNodeV4, " dev eth0 src ", pod.v4),
      absl::StrCat("ip -n ", p, " -6 route add ", kNodeV6, "/128 dev eth0"),
      absl::StrCat("ip -n ", p, " -6 route add default via ", kNodeV6, " dev eth0 src ", pod.v6),
      absl::StrCat("ip -n ", n, " route add ", pod.v4, "/32 dev ", v, " src ", kNodeV4),
      absl::StrCat("ip -n ", n, " -6 route add ", pod.v6, "/128 dev ", v, " src ", kNodeV6),
  });
  pods_.push_back(std::move(pod));
  return st;
}

absl::Status Topology::AddOutside() {
  absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create("outside");
  if (!ns.ok()) {
    return ns.status();
  }
  outside_.emplace(std::move(*ns));
  const std::string n = node_->name();
  const std::string o = outside_->name();
  return RunAll({
      NoDadCommand(o),
      absl::StrCat("ip -n ", n, " link add vout type veth peer name eth0 netns ", o),
      absl::StrCat("ip -n ", n, " addr add ", kNodeOutsideV4, "/24 dev vout"),
      absl::StrCat("ip -n ", n, " -6 addr add ", kNodeOutsideV6, "/64 dev vout nodad"),
      absl::StrCat("ip -n ", n, " link set vout up"),
      absl::StrCat("ip -n ", o, " addr add ", kOutsideV4, "/24 dev eth0"),
      absl::StrCat("ip -n ", o, " -6 addr add ", kOutsideV6, "/64 dev eth0 nodad"),
      absl::StrCat("ip -n ", o, " link set eth0 up"),
  });
}

void Topology::DeletePod(size_t i) { pods_.at(i).ns.reset(); }

}  // namespace probesnat::integration
