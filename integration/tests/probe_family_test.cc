// probesnatd with a dual-stack pod enrolled with only one of its addresses: TCP from the probe
// address of the other family is not a probe (the node never SNATs to it for this pod, and the
// node's anti-spoofing drop matches enrolled addresses only), so the pod captures it. Pod B plays
// a neighbour that forges the probe source; the node routes the probe addresses towards it so
// that the forged connections can complete wherever they land.
#include "absl/strings/str_cat.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

class ProbeFamilyTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    StartDaemon({"--resync-interval", "200ms"});
    app_ = Listen(fd_a(), kAppPort);
    inbound_ = Listen(fd_a(), kInboundPort);
    ASSERT_TRUE(app_ && inbound_);
    const std::string n = topo_->node().name(), pb = b().name();
    for (const std::string& c :
         {absl::StrCat("ip -n ", pb, " addr add ", kProbeV4, "/32 dev eth0"),
          absl::StrCat("ip -n ", pb, " -6 addr add ", kProbeV6, "/128 dev eth0 nodad"),
          absl::StrCat("ip -n ", n, " route add ", kProbeV4, "/32 dev ", b().node_if),
          absl::StrCat("ip -n ", n, " -6 route add ", kProbeV6, "/128 dev ", b().node_if)}) {
      PSNT_ASSERT_OK(netfilter::testing::Run(c));
    }
  }

  // Pod A enrolled with the given subset of its addresses.
  void EnrollA(const std::vector<std::string>& ips) {
    MustEnroll(MakePod(kUidA, ips, a().path(), "pod-a"));
  }

  // Pod B connects to pod A's `dst`:8080 with the probe address of that family as its source.
  ConnectOptions Forged(const std::string& dst) {
    ConnectOptions o;
    o.bind_ip = IsV6(dst) ? kProbeV6 : kProbeV4;
    o.timeout = absl::Seconds(1);
    return o;
  }

  // The forgery lands on the inbound capture listener, with the forged source and the original
  // destination, and never on the app.
  void ExpectForgeryCaptured(const std::string& dst) {
    SCOPED_TRACE(absl::StrCat("forged probe source to ", dst));
    std::optional<Accepted> got = ConnectAndAccept(fd_b(), dst, kAppPort, *inbound_, Forged(dst));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, IsV6(dst) ? kProbeV6 : kProbeV4);
    ASSERT_TRUE(got->original_dst.has_value());
    EXPECT_EQ(*got->original_dst, (Endpoint{dst, kAppPort}));
    EXPECT_FALSE(app_->HasPending(kQuiet)) << "the forged probe source reached the app";
  }

  // The node drops the forgery (the destination is enrolled): it reaches no listener.
  void ExpectForgeryDropped(const std::string& dst) {
    SCOPED_TRACE(absl::StrCat("forged probe source to enrolled ", dst));
    absl::StatusOr<Connection> c = Connect(fd_b(), Endpoint{dst, kAppPort}, Forged(dst));
    EXPECT_FALSE(c.ok()) << "a forged connection to an enrolled address completed";
    EXPECT_FALSE(app_->HasPending(kQuiet));
    EXPECT_FALSE(inbound_->HasPending());
  }

  // A real probe from the node skips capture and arrives from the probe address.
  void ExpectNodeProbe(const std::string& dst) {
    SCOPED_TRACE(absl::StrCat("node probe to ", dst));
    std::optional<Accepted> got = ConnectAndAccept(fd_node(), dst, kAppPort, *app_);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, IsV6(dst) ? kProbeV6 : kProbeV4);
    EXPECT_FALSE(inbound_->HasPending(kQuiet));
  }

  // The drift check reads the table back as matching: nothing is repaired, the table stays.
  void ExpectNoRepairs() {
    const std::string table = ProbesnatTableText(a().name());
    absl::SleepFor(absl::Seconds(1));  // five drift checks
    EXPECT_EQ(ProbesnatTableText(a().name()), table);
    EXPECT_EQ(daemon_->Log().find("drift check:"), std::string::npos) << daemon_->Log();
  }

  std::unique_ptr<Listener> app_, inbound_;
};

TEST_F(ProbeFamilyTest, EnrolledWithOnlyV4ForgedV6ProbeSourceIsCaptured) {
  EnrollA({a().v4});
  ExpectForgeryCaptured(a().v6);
  ExpectNodeProbe(a().v4);
  ExpectForgeryDropped(a().v4);
  ExpectNoRepairs();
}

TEST_F(ProbeFamilyTest, EnrolledWithOnlyV6ForgedV4ProbeSourceIsCaptured) {
  EnrollA({a().v6});
  ExpectForgeryCaptured(a().v4);
  ExpectNodeProbe(a().v6);
  ExpectForgeryDropped(a().v6);
  ExpectNoRepairs();
}

TEST_F(ProbeFamilyTest, EnrolledWithBothFamiliesNodeProbesOfBothSkipCapture) {
  EnrollA({a().v4, a().v6});
  for (const std::string& dst : {a().v4, a().v6}) {
    ExpectNodeProbe(dst);
    ExpectForgeryDropped(dst);
  }
  ExpectNoRepairs();
}

// Enrolling the missing family later trusts its probe source from then on; dropping it again
// captures it again (the pod table follows the enrolled addresses).
TEST_F(ProbeFamilyTest, ChangingTheEnrolledFamiliesUpdatesThePodTable) {
  EnrollA({a().v4});
  ExpectForgeryCaptured(a().v6);
  EnrollA({a().v4, a().v6});
  ExpectNodeProbe(a().v6);
  ExpectForgeryDropped(a().v6);
  EnrollA({a().v4});
  ExpectForgeryCaptured(a().v6);
  ExpectNoRepairs();
}

}  // namespace
}  // namespace probesnat::integration
