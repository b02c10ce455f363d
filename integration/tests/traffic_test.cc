// probesnatd in the node namespace, pod A enrolled over gRPC: what real connections look like to
// the sockets that receive them.
#include "absl/strings/str_cat.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

// Pod A with the four listeners a meshed pod has (app, tunnel, inbound and outbound capture), pod B
// with its app; pod A enrolled.
class EnrolledPodTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    app_ = Listen(fd_a(), kAppPort);
    tunnel_ = Listen(fd_a(), kTunnelPort);
    inbound_ = Listen(fd_a(), kInboundPort);
    outbound_ = Listen(fd_a(), kOutboundPort);
    app_b_ = Listen(fd_b(), kPodBAppPort);
    ASSERT_TRUE(app_ && tunnel_ && inbound_ && outbound_ && app_b_);
    MustEnroll(PodA());
  }

  // No listener other than `except` has a connection waiting.
  void ExpectOnlyOneListenerGotIt(const Listener* except) {
    absl::SleepFor(kQuiet);  // give a stray connection time to show up anywhere
    for (Listener* l : {app_.get(), tunnel_.get(), inbound_.get(), outbound_.get(), app_b_.get()}) {
      if (l != except) {
        EXPECT_FALSE(l->HasPending())
            << "listener on port " << l->port() << " also got a connection";
      }
    }
  }

  std::unique_ptr<Listener> app_, tunnel_, inbound_, outbound_, app_b_;
};

TEST_F(EnrolledPodTest, NodeProbeArrivesFromProbeAddressV4) {
  std::optional<Accepted> got = ConnectAndAccept(fd_node(), a().v4, kAppPort, *app_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, kProbeV4);
  EXPECT_EQ(got->local, (Endpoint{a().v4, kAppPort}));
  ExpectOnlyOneListenerGotIt(app_.get());
}

TEST_F(EnrolledPodTest, NodeProbeArrivesFromProbeAddressV6) {
  std::optional<Accepted> got = ConnectAndAccept(fd_node(), a().v6, kAppPort, *app_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, kProbeV6);
  EXPECT_EQ(got->local, (Endpoint{a().v6, kAppPort}));
  ExpectOnlyOneListenerGotIt(app_.get());
}

TEST_F(EnrolledPodTest, NodeToUnenrolledPodKeepsNodeAddress) {
  auto app_b8080 = Listen(fd_b(), kAppPort);
  ASSERT_NE(app_b8080, nullptr);
  for (const auto& [dst, node_ip] : {std::pair{b().v4, kNodeV4}, std::pair{b().v6, kNodeV6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_node(), dst, kAppPort, *app_b8080);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, node_ip);
  }
}

TEST_F(EnrolledPodTest, PodToPodInboundIsCapturedV4) {
  std::optional<Accepted> got = ConnectAndAccept(fd_b(), a().v4, kAppPort, *inbound_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, b().v4);
  ASSERT_TRUE(got->original_dst.has_value());
  EXPECT_EQ(*got->original_dst, (Endpoint{a().v4, kAppPort}));
  ExpectOnlyOneListenerGotIt(inbound_.get());
}

TEST_F(EnrolledPodTest, PodToPodInboundIsCapturedV6) {
  std::optional<Accepted> got = ConnectAndAccept(fd_b(), a().v6, kAppPort, *inbound_);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, b().v6);
  ASSERT_TRUE(got->original_dst.has_value());
  EXPECT_EQ(*got->original_dst, (Endpoint{a().v6, kAppPort}));
  ExpectOnlyOneListenerGotIt(inbound_.get());
}

TEST_F(EnrolledPodTest, TunnelPortReachesTunnelListener) {
  for (const auto& [dst, src] : {std::pair{a().v4, b().v4}, std::pair{a().v6, b().v6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_b(), dst, kTunnelPort, *tunnel_);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, src);
    EXPECT_EQ(got->local.port, kTunnelPort);
    ExpectOnlyOneListenerGotIt(tunnel_.get());
  }
}

TEST_F(EnrolledPodTest, OutboundIsCapturedWithOriginalDestination) {
  for (const auto& [dst, src] : {std::pair{b().v4, a().v4}, std::pair{b().v6, a().v6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_a(), dst, kPodBAppPort, *outbound_);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->local.port, kOutboundPort);
    EXPECT_EQ(got->peer.ip, src);
    ASSERT_TRUE(got->original_dst.has_value());
    EXPECT_EQ(*got->original_dst, (Endpoint{dst, kPodBAppPort}));
    ExpectOnlyOneListenerGotIt(outbound_.get());
  }
}

TEST_F(EnrolledPodTest, ProxyMarkedTrafficIsNotCaptured) {
  for (const auto& [dst, src] : {std::pair{b().v4, a().v4}, std::pair{b().v6, a().v6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_a(), dst, kPodBAppPort, *app_b_, Marked());
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, src);
    ExpectOnlyOneListenerGotIt(app_b_.get());
  }
}

TEST_F(EnrolledPodTest, ForwardedPodTrafficIsNeverProbeSnated) {
  // Both pods enrolled; B's proxy (proxy mark) opens the tunnel to A, B's app is captured by B.
  auto outbound_b = Listen(fd_b(), kOutboundPort);
  ASSERT_NE(outbound_b, nullptr);
  MustEnroll(PodB());
  for (const auto& [dst, src] : {std::pair{a().v4, b().v4}, std::pair{a().v6, b().v6}}) {
    std::optional<Accepted> tunnel = ConnectAndAccept(fd_b(), dst, kTunnelPort, *tunnel_, Marked());
    ASSERT_TRUE(tunnel.has_value());
    EXPECT_EQ(tunnel->peer.ip, src);
    std::optional<Accepted> inbound = ConnectAndAccept(fd_b(), dst, kAppPort, *inbound_, Marked());
    ASSERT_TRUE(inbound.has_value());
    EXPECT_EQ(inbound->peer.ip, src);
    EXPECT_FALSE(app_->HasPending(kQuiet));
    std::optional<Accepted> captured = ConnectAndAccept(fd_b(), dst, kAppPort, *outbound_b);
    ASSERT_TRUE(captured.has_value());
    ASSERT_TRUE(captured->original_dst.has_value());
    EXPECT_EQ(*captured->original_dst, (Endpoint{dst, kAppPort}));
  }
}

TEST_F(EnrolledPodTest, NodePortDnatIsNeverProbeSnated) {
  InstallNodePort(/*masquerade=*/false);
  for (const auto& [node_ip, src] :
       {std::pair{kNodeOutsideV4, kOutsideV4}, std::pair{kNodeOutsideV6, kOutsideV6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_outside(), node_ip, kNodePort, *inbound_);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, src);
    EXPECT_NE(got->peer.ip, kProbeV4);
    EXPECT_NE(got->peer.ip, kProbeV6);
    ExpectOnlyOneListenerGotIt(inbound_.get());
  }
}

TEST_F(EnrolledPodTest, MasqueradedNodePortIsNeverProbeSnated) {
  InstallNodePort(/*masquerade=*/true);
  for (const auto& [node_ip, masq] :
       {std::pair{kNodeOutsideV4, kNodeV4}, std::pair{kNodeOutsideV6, kNodeV6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_outside(), node_ip, kNodePort, *inbound_);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, masq);
    ExpectOnlyOneListenerGotIt(inbound_.get());
  }
}

TEST_F(EnrolledPodTest, NodePortMasqueradedWithIptablesIsNeverProbeSnated) {
  // kube-proxy style: the foreign NAT lives in iptables-nft tables (ip nat / ip6 nat).
  const std::string n = topo_->node().name();
  for (const auto& [tool, node_ip, to] :
       {std::tuple{"iptables", kNodeOutsideV4, absl::StrCat(a().v4, ":", kAppPort)},
        std::tuple{"ip6tables", kNodeOutsideV6, absl::StrCat("[", a().v6, "]:", kAppPort)}}) {
    PSNT_ASSERT_OK(
        RunIn(n, absl::StrCat(tool, " -t nat -A PREROUTING -p tcp -d ", node_ip, " --dport ",
                              kNodePort, " -j DNAT --to-destination ", to)));
    PSNT_ASSERT_OK(RunIn(n, absl::StrCat(tool, " -t nat -A POSTROUTING -o ", a().node_if,
                                         " -m conntrack --ctstate DNAT -j MASQUERADE")));
  }
  for (const auto& [node_ip, masq] :
       {std::pair{kNodeOutsideV4, kNodeV4}, std::pair{kNodeOutsideV6, kNodeV6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_outside(), node_ip, kNodePort, *inbound_);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, masq);
  }
}

TEST_F(AgentTest, CustomProbeAddressIsWhatThePodSees) {
  const std::string probe_v4 = "169.254.99.1";
  const std::string probe_v6 = "fd16:9254:99::1";
  StartDaemon({"--probe-v4", probe_v4, "--probe-v6", probe_v6});
  auto app = Listen(fd_a(), kAppPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  ASSERT_TRUE(app && inbound);
  MustEnroll(PodA());
  for (const auto& [dst, probe] : {std::pair{a().v4, probe_v4}, std::pair{a().v6, probe_v6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_node(), dst, kAppPort, *app);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, probe);
    EXPECT_FALSE(inbound->HasPending(kQuiet));
  }
}

}  // namespace
}  // namespace probesnat::integration
