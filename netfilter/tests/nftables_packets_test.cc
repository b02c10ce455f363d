// Real TCP connections through the rules the nftables backend installs. Topology, all in
// namespaces the test creates and removes:
//
//   outside 10.200.2.2 ── vout │ node │ vpod ── pod 10.200.1.2 (enrolled), 10.200.1.3 (not)
//           fd00:2::2          │      │         fd00:1::2 (enrolled),  fd00:1::3 (not)
//                    10.200.2.1/fd00:2::1  10.200.1.1/fd00:1::1, forwarding on
//
// The node namespace plays the host: node-originated connections to enrolled pod addresses must
// arrive from the probe address; anything the node forwards (routed, DNATed, masqueraded) must not,
// and anything the node forwards that already carries the probe address as its source (a forgery
// that would bypass the pod's mesh capture) must not arrive at all.
#include <poll.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netfilter/nftables_backend.h"
#include "netfilter/rules_spec.h"
#include "netfilter/testing/node_pod_topology.h"
#include "netfilter/testing/packet_sockets.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter {
namespace {

using ::probesnat::netfilter::testing::Accepted;
using ::probesnat::netfilter::testing::AcceptOne;
using ::probesnat::netfilter::testing::BindUdp;
using ::probesnat::netfilter::testing::Connect;
using ::probesnat::netfilter::testing::kPacketTimeoutMs;
using ::probesnat::netfilter::testing::Listen;
using ::probesnat::netfilter::testing::NodePodTopologyOptions;
using ::probesnat::netfilter::testing::Readable;
using ::probesnat::netfilter::testing::ReceiveUdp;
using ::probesnat::netfilter::testing::ScopedNetns;
using ::probesnat::netfilter::testing::SendUdp;
using ::probesnat::netfilter::testing::StartConnect;
using ::probesnat::netfilter::testing::WireNodePodTopology;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

absl::Status Sh(const std::string& command) {
  return ::probesnat::netfilter::testing::Run(command);
}

class PacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root: builds a namespace topology and sends real packets";
    }
    ScopedNetns::RemoveStale();
    for (auto [slot, label] : {std::pair{&node_, "node"}, {&pod_, "pod"}, {&outside_, "out"}}) {
      absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create(label);
      ASSERT_TRUE(ns.ok()) << ns.status();
      slot->emplace(*std::move(ns));
    }
    NodePodTopologyOptions topology;
    topology.more_pod_addresses = {"10.200.1.3/24 dev eth0", "fd00:1::3/64 dev eth0 nodad"};
    absl::Status wired = WireNodePodTopology(*node_, *pod_, *outside_, topology);
    ASSERT_TRUE(wired.ok()) << wired;
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeNftablesBackend(node_->path());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    ASSERT_TRUE(backend_->EnsureHost(HostRules{}).ok());
    ASSERT_TRUE(
        backend_
            ->UpdateHostMembers({{Ip("10.200.1.2"), "pod-uid"}, {Ip("fd00:1::2"), "pod-uid"}}, {})
            .ok());
  }

  void TearDown() override { backend_.reset(); }

  void Nft(const ScopedNetns& ns, const std::string& script) {
    ASSERT_TRUE(Sh(absl::StrCat("ip netns exec ", ns.name(), " nft '", script, "'")).ok())
        << script;
  }

  // The source address the pod sees for a connection from `from` to dst:port (one listener per
  // family on `port` in the pod).
  std::string SourceSeenByPod(const ScopedNetns& from, const IpAddress& dst, uint16_t port,
                              uint16_t listen_port) {
    absl::StatusOr<UniqueFd> listener = Listen(*pod_, dst.family(), listen_port);
    EXPECT_TRUE(listener.ok()) << listener.status();
    if (!listener.ok()) return "";
    absl::StatusOr<UniqueFd> client = Connect(from, dst, port);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return "";
    absl::StatusOr<Accepted> got = AcceptOne({&*listener});
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? got->peer : "";
  }

  std::optional<ScopedNetns> node_, pod_, outside_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(PacketTest, NodeOriginatedTcpToAnEnrolledPodComesFromTheProbeAddress) {
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("10.200.1.2"), 8080, 8080), "169.254.7.127");
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("fd00:1::2"), 8080, 8080),
            "fd16:9254:7127:1337:ffff:ffff:ffff:ffff");
}

TEST_F(PacketTest, NodeOriginatedTcpToOtherAddressesIsNotRewritten) {
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("10.200.1.3"), 8080, 8080), "10.200.1.1");
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("fd00:1::3"), 8080, 8080), "fd00:1::1");
  ASSERT_TRUE(backend_->UpdateHostMembers({}, {Ip("10.200.1.2"), Ip("fd00:1::2")}).ok());
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("10.200.1.2"), 8080, 8080), "10.200.1.1");
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("fd00:1::2"), 8080, 8080), "fd00:1::1");
}

TEST_F(PacketTest, ForwardedTrafficIsNotRewritten) {
  EXPECT_EQ(SourceSeenByPod(*outside_, Ip("10.200.1.2"), 8080, 8080), "10.200.2.2");
  EXPECT_EQ(SourceSeenByPod(*outside_, Ip("fd00:1::2"), 8080, 8080), "fd00:2::2");
}

TEST_F(PacketTest, NodePortStyleDnatIsNotRewritten) {
  Nft(*node_,
      "add table ip nodeport; add chain ip nodeport prerouting { type nat hook prerouting "
      "priority dstnat; }; add rule ip nodeport prerouting tcp dport 30080 dnat to "
      "10.200.1.2:8080; add table ip6 nodeport6; add chain ip6 nodeport6 prerouting { type nat "
      "hook prerouting priority dstnat; }; add rule ip6 nodeport6 prerouting tcp dport 30080 "
      "dnat to [fd00:1::2]:8080");
  EXPECT_EQ(SourceSeenByPod(*outside_, Ip("10.200.2.1"), 30080, 8080), "10.200.2.2");
  EXPECT_EQ(SourceSeenByPod(*outside_, Ip("fd00:2::1"), 30080, 8080), "fd00:2::2");
}

TEST_F(PacketTest, MasqueradedTrafficIsMasqueradedNotRewrittenAndNodeTrafficStillIs) {
  // kube-proxy style: masquerade everything leaving towards the pods, at srcnat (100).
  Nft(*node_,
      "add table inet masq; add chain inet masq postrouting { type nat hook postrouting "
      "priority srcnat; }; add rule inet masq postrouting oifname \"vpod\" masquerade");
  EXPECT_EQ(SourceSeenByPod(*outside_, Ip("10.200.1.2"), 8080, 8080), "10.200.1.1");
  EXPECT_EQ(SourceSeenByPod(*outside_, Ip("fd00:1::2"), 8080, 8080), "fd00:1::1");
  // Our chain runs first (srcnat - 10), so node-originated probes keep the probe address.
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("10.200.1.2"), 8080, 8080), "169.254.7.127");
  EXPECT_EQ(SourceSeenByPod(*node_, Ip("fd00:1::2"), 8080, 8080),
            "fd16:9254:7127:1337:ffff:ffff:ffff:ffff");
}

// Inside an enrolled pod, TCP from the probe address bypasses the mesh: a packet the node forwards
// to an enrolled pod with that source is a forgery and must be dropped (any protocol), while the
// same namespace's ordinary traffic and the node's own SNATed probes still arrive.
TEST_F(PacketTest, ForwardedPacketsForgingTheProbeAddressAreDropped) {
  const std::string n = node_->name(), o = outside_->name();
  const IpAddress probe_v4 = DefaultProbeV4(), probe_v6 = DefaultProbeV6();
  // The outside holds the probe addresses; the node's uplink (default route) is the outside, so a
  // reply to a forged source would reach the forger and no reverse-path check stands in the way.
  for (const std::string& c :
       {absl::StrCat("ip -n ", o, " addr add ", probe_v4.ToString(), "/32 dev eth0"),
        absl::StrCat("ip -n ", o, " addr add ", probe_v6.ToString(), "/128 dev eth0 nodad"),
        absl::StrCat("ip -n ", n, " route add default via 10.200.2.2"),
        absl::StrCat("ip -n ", n, " -6 route add default via fd00:2::2")}) {
    ASSERT_TRUE(Sh(c).ok()) << c;
  }
  const IpAddress pod_v4 = Ip("10.200.1.2"), pod_v6 = Ip("fd00:1::2");
  constexpr uint16_t kPort = 8081;
  absl::StatusOr<UniqueFd> tcp4 = Listen(*pod_, IpFamily::kV4, kPort);
  absl::StatusOr<UniqueFd> tcp6 = Listen(*pod_, IpFamily::kV6, kPort);
  absl::StatusOr<UniqueFd> udp4 = BindUdp(*pod_, IpFamily::kV4, kPort);
  absl::StatusOr<UniqueFd> udp6 = BindUdp(*pod_, IpFamily::kV6, kPort);
  ASSERT_TRUE(tcp4.ok() && tcp6.ok() && udp4.ok() && udp6.ok());
  const std::vector<const UniqueFd*> pod_sockets = {&*tcp4, &*tcp6, &*udp4, &*udp6};

  // Forged TCP SYNs (retransmitted during the wait) and UDP datagrams, both families at once.
  auto send_forged = [&](std::vector<UniqueFd>& clients) {
    for (const auto& [src, dst] : {std::pair{&probe_v4, &pod_v4}, std::pair{&probe_v6, &pod_v6}}) {
      absl::StatusOr<UniqueFd> c = StartConnect(*outside_, src, *dst, kPort);
      ASSERT_TRUE(c.ok()) << c.status();
      clients.push_back(*std::move(c));
      absl::Status st = SendUdp(*outside_, src, *dst, kPort);
      ASSERT_TRUE(st.ok()) << st;
    }
  };
  auto expect_forgeries_dropped = [&] {
    std::vector<UniqueFd> forged;
    send_forged(forged);
    std::vector<size_t> got = Readable(pod_sockets, kPacketTimeoutMs);
    EXPECT_TRUE(got.empty()) << "a forged packet reached pod socket #" << got.front()
                             << " (tcp4, tcp6, udp4, udp6)";
    for (const UniqueFd& c : forged) {
      pollfd p{c.get(), POLLOUT, 0};
      EXPECT_EQ(::poll(&p, 1, 0), 0) << "a forged connection completed";
    }
  };
  {
    SCOPED_TRACE("with the anti-spoofing chain");
    expect_forgeries_dropped();
  }

  // The same namespace's own addresses still get through, TCP and UDP, v4 and v6.
  for (const IpAddress* dst : {&pod_v4, &pod_v6}) {
    const UniqueFd& listener = dst->is_v4() ? *tcp4 : *tcp6;
    const UniqueFd& udp = dst->is_v4() ? *udp4 : *udp6;
    const std::string outside_ip = dst->is_v4() ? "10.200.2.2" : "fd00:2::2";
    absl::StatusOr<UniqueFd> client = Connect(*outside_, *dst, kPort);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<Accepted> got = AcceptOne({&listener});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->peer, outside_ip);
    ASSERT_TRUE(SendUdp(*outside_, nullptr, *dst, kPort).ok());
    absl::StatusOr<std::string> from = ReceiveUdp(udp);
    ASSERT_TRUE(from.ok()) << from.status();
    EXPECT_EQ(*from, outside_ip);
  }
  // The node's own probes still arrive from the probe address.
  EXPECT_EQ(SourceSeenByPod(*node_, pod_v4, 8080, 8080), "169.254.7.127");
  EXPECT_EQ(SourceSeenByPod(*node_, pod_v6, 8080, 8080), "fd16:9254:7127:1337:ffff:ffff:ffff:ffff");

  // Control: without the chain the very same forgeries arrive (the topology delivers them; it is
  // the chain that drops them) and look exactly like the node's probes to the pod.
  ASSERT_TRUE(
      Sh(absl::StrCat("ip netns exec ", n, " nft delete chain inet probesnat forward_antispoof"))
          .ok());
  {
    SCOPED_TRACE("without the anti-spoofing chain");
    std::vector<UniqueFd> forged;
    send_forged(forged);
    for (const auto& [listener, udp, want] : {std::tuple{&*tcp4, &*udp4, probe_v4.ToString()},
                                              std::tuple{&*tcp6, &*udp6, probe_v6.ToString()}}) {
      absl::StatusOr<Accepted> got = AcceptOne({listener});
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->peer, want);
      absl::StatusOr<std::string> from = ReceiveUdp(*udp);
      ASSERT_TRUE(from.ok()) << from.status();
      EXPECT_EQ(*from, want);
    }
  }

  // Drift repair restores the chain, and with it the drop.
  absl::StatusOr<HostObservation> obs = backend_->ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_FALSE(obs->rules_match);
  ASSERT_TRUE(backend_->EnsureHost(HostRules{}).ok());
  {
    SCOPED_TRACE("after EnsureHost restored the chain");
    expect_forgeries_dropped();
  }
}

// In-pod capture with the pod table, compactly (the end-to-end suite covers the rest).
TEST_F(PacketTest, PodTableCapturesInboundAndOutboundAndLetsProbesAndTunnelThrough) {
  ASSERT_TRUE(backend_->ApplyPod(pod_->path(), PodRules{}, TableOwner{"pod-uid", 1}).ok());
  absl::StatusOr<UniqueFd> app = Listen(*pod_, IpFamily::kV4, 8080);
  absl::StatusOr<UniqueFd> inbound = Listen(*pod_, IpFamily::kV4, 15006);
  absl::StatusOr<UniqueFd> tunnel = Listen(*pod_, IpFamily::kV4, 15008);
  absl::StatusOr<UniqueFd> outbound = Listen(*pod_, IpFamily::kV4, 15001);
  absl::StatusOr<UniqueFd> remote = Listen(*outside_, IpFamily::kV4, 9090);
  ASSERT_TRUE(app.ok() && inbound.ok() && tunnel.ok() && outbound.ok() && remote.ok());
  const std::vector<const UniqueFd*> pod_listeners = {&*app, &*inbound, &*tunnel, &*outbound};
  enum { kApp, kInbound, kTunnel, kOutbound };

  struct Case {
    const char* what;
    const ScopedNetns* from;
    const char* to;
    uint16_t port;
    uint32_t mark;
    int want_listener;  // index in pod_listeners, or -1 for the outside listener
    const char* want_peer;
  };
  const Case cases[] = {
      {"plain inbound is captured", &*outside_, "10.200.1.2", 8080, 0, kInbound, "10.200.2.2"},
      {"tunnel port reaches the tunnel listener", &*outside_, "10.200.1.2", 15008, 0, kTunnel,
       "10.200.2.2"},
      {"node probe bypasses capture", &*node_, "10.200.1.2", 8080, 0, kApp, "169.254.7.127"},
      {"outbound is captured", &*pod_, "10.200.2.2", 9090, 0, kOutbound, "10.200.1.2"},
      {"proxy-marked outbound is not", &*pod_, "10.200.2.2", 9090, 0x539, -1, "10.200.1.2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    absl::StatusOr<UniqueFd> client = Connect(*c.from, Ip(c.to), c.port, c.mark);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<Accepted> got =
        c.want_listener >= 0 ? AcceptOne(pod_listeners) : AcceptOne({&*remote});
    ASSERT_TRUE(got.ok()) << got.status();
    if (c.want_listener >= 0) {
      EXPECT_EQ(got->listener, static_cast<size_t>(c.want_listener));
    }
    EXPECT_EQ(got->peer, c.want_peer);
  }
}

}  // namespace
}  // namespace probesnat::netfilter
