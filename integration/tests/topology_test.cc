// Tests of the harness itself, without probesnat: the topology routes and NATs as a node would.
#include "integration/tests/test_support.h"

#include "absl/strings/match.h"

namespace probesnat::integration {
namespace {

using HarnessTest = TopologyTest;

TEST_F(HarnessTest, NodeToPodArrivesFromNodeAddress) {
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  std::optional<Accepted> v4 = ConnectAndAccept(fd_node(), a().v4, kAppPort, *app);
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->peer.ip, kNodeV4);
  EXPECT_EQ(v4->local, (Endpoint{a().v4, kAppPort}));
  std::optional<Accepted> v6 = ConnectAndAccept(fd_node(), a().v6, kAppPort, *app);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->peer.ip, kNodeV6);
  EXPECT_EQ(v6->local, (Endpoint{a().v6, kAppPort}));
}

TEST_F(HarnessTest, PodToPodIsRoutedThroughNode) {
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  for (const auto& [src, dst] : {std::pair{b().v4, a().v4}, std::pair{b().v6, a().v6}}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_b(), dst, kAppPort, *app);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, src);
    // No netfilter in pod A: conntrack knows nothing, so there is no original destination.
    EXPECT_FALSE(got->original_dst.has_value()) << got->original_dst->ToString();
  }
}

TEST_F(HarnessTest, OutsideReachesNodePortThroughDnat) {
  InstallNodePort(/*masquerade=*/false);
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  std::optional<Accepted> v4 = ConnectAndAccept(fd_outside(), kNodeOutsideV4, kNodePort, *app);
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->peer.ip, kOutsideV4);
  std::optional<Accepted> v6 = ConnectAndAccept(fd_outside(), kNodeOutsideV6, kNodePort, *app);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->peer.ip, kOutsideV6);
}

TEST_F(HarnessTest, MasqueradedNodePortArrivesFromNodeAddress) {
  InstallNodePort(/*masquerade=*/true);
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  std::optional<Accepted> v4 = ConnectAndAccept(fd_outside(), kNodeOutsideV4, kNodePort, *app);
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->peer.ip, kNodeV4);
  std::optional<Accepted> v6 = ConnectAndAccept(fd_outside(), kNodeOutsideV6, kNodePort, *app);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->peer.ip, kNodeV6);
}

TEST_F(HarnessTest, ListenerReportsOriginalDestinationOfRedirect) {
  // A REDIRECT of our own in pod A: what the capture listeners rely on.
  PSNT_ASSERT_OK(NftApply(a().name(),
                          "table inet t { chain pre { type nat hook prerouting priority dstnat;"
                          " tcp dport 8080 redirect to :15006; }; }\n"));
  auto capture = Listen(fd_a(), kInboundPort);
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(capture, nullptr);
  ASSERT_NE(app, nullptr);
  for (const std::string& dst : {a().v4, a().v6}) {
    std::optional<Accepted> got = ConnectAndAccept(fd_b(), dst, kAppPort, *capture);
    ASSERT_TRUE(got.has_value());
    ASSERT_TRUE(got->original_dst.has_value());
    EXPECT_EQ(*got->original_dst, (Endpoint{dst, kAppPort}));
    EXPECT_EQ(got->local.port, kInboundPort);
  }
  EXPECT_FALSE(app->HasPending(kQuiet));
}

TEST_F(HarnessTest, MarkedConnectionCarriesMark) {
  // A rule in pod A that rejects unmarked connections to 9090 proves SO_MARK is applied.
  PSNT_ASSERT_OK(NftApply(a().name(),
                          "table inet t { chain out { type filter hook output priority 0;"
                          " tcp dport 9090 meta mark != 0x539 reject with tcp reset; }; }\n"));
  auto app_b = Listen(fd_b(), kPodBAppPort);
  ASSERT_NE(app_b, nullptr);
  absl::StatusOr<Connection> unmarked = Connect(fd_a(), Endpoint{b().v4, kPodBAppPort});
  EXPECT_FALSE(unmarked.ok());
  std::optional<Accepted> got = ConnectAndAccept(fd_a(), b().v4, kPodBAppPort, *app_b, Marked());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, a().v4);
}

TEST_F(HarnessTest, ListenerTimesOutWhenNothingArrives) {
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  absl::Time start = absl::Now();
  absl::StatusOr<Accepted> got = app->Accept(absl::Milliseconds(100));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // Connecting to a port nobody listens on fails fast (RST), within the bound.
  absl::StatusOr<Connection> c = Connect(fd_b(), Endpoint{a().v4, 1});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
}

TEST_F(HarnessTest, MachineNamespaceIsUntouched) {
  // Every address the harness uses lives in the test namespaces only.
  absl::StatusOr<std::string> addrs = netfilter::testing::RunAndCapture("ip -o addr show");
  ASSERT_TRUE(addrs.ok()) << addrs.status();
  EXPECT_FALSE(MentionsAddress(*addrs, kNodeV4)) << *addrs;
  EXPECT_FALSE(MentionsAddress(*addrs, a().v4)) << *addrs;
  EXPECT_FALSE(absl::StrContains(*addrs, "fd00:244:1:")) << *addrs;
  absl::StatusOr<std::string> tables = netfilter::testing::RunAndCapture("nft list tables");
  ASSERT_TRUE(tables.ok()) << tables.status();
  EXPECT_FALSE(absl::StrContains(*tables, "test_nodeport")) << *tables;
  EXPECT_FALSE(absl::StrContains(*tables, "probesnat")) << *tables;
}

TEST(HarnessParsing, SplitTablesAndMentions) {
  const std::string ruleset =
      "table ip filter {\n\tchain INPUT {\n\t\ttype filter hook input priority filter; policy "
      "accept;\n"
      "\t}\n}\ntable inet probesnat {\n\tset v4 {\n\t\telements = { 10.244.1.10 }\n\t}\n}\n";
  auto tables = SplitTables(ruleset);
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_TRUE(tables.count("table ip filter"));
  EXPECT_TRUE(MentionsAddress(tables["table inet probesnat"], "10.244.1.10"));
  EXPECT_FALSE(MentionsAddress(tables["table inet probesnat"], "10.244.1.1"));
  EXPECT_FALSE(MentionsAddress("10.244.1.100", "10.244.1.10"));
  EXPECT_FALSE(MentionsAddress("fd00:244:1::10a", "fd00:244:1::10"));
  const std::set<std::string> elements = ParseSetElements(
      "table inet probesnat {\n\tset pods_v4 {\n\t\ttype ipv4_addr\n\t\telements = { 10.244.1.10, "
      "10.244.1.20,\n"
      "\t\t\t     10.244.1.30 }\n\t}\n\tset pods_v6 {\n\t\ttype ipv6_addr\n\t}\n\tchain c {\n"
      "\t\tip daddr @pods_v4 snat ip to 169.254.7.127\n\t}\n}\n");
  EXPECT_EQ(elements, (std::set<std::string>{"10.244.1.10", "10.244.1.20", "10.244.1.30"}));
}

}  // namespace
}  // namespace probesnat::integration
