// Probe origin "cgroup" with real cgroups and real TCP connections. Topology (namespaces the test
// creates and removes) as in nftables_packets_test.cc:
//
//   outside 10.200.2.2 ── vout │ node │ vpod ── pod 10.200.1.2 / fd00:1::2 (enrolled, pod table)
//
// and a test cgroup tree probesnat-test-<pid>-origin/{kubelet.service,other.service} under the
// cgroup v2 root. A "kubelet" child process in kubelet.service and an "other host process" child
// in other.service both connect from the node namespace: only the kubelet's connections arrive
// from the probe address (and skip capture); the other's arrive from the node's address and are
// captured on 15006. Forwarded traffic is never rewritten. A kubelet cgroup deleted and made again
// has a new id: the old rule matches nobody until the host table is rewritten with the new one.
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netfilter/cgroup_v2.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"
#include "netfilter/nftables_backend.h"
#include "netfilter/rules_spec.h"
#include "netfilter/testing/node_pod_topology.h"
#include "netfilter/testing/packet_sockets.h"
#include "netfilter/testing/scoped_cgroup.h"
#include "netfilter/testing/scoped_child.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter {
namespace {

using ::probesnat::netfilter::testing::Accepted;
using ::probesnat::netfilter::testing::AcceptOne;
using ::probesnat::netfilter::testing::Connect;
using ::probesnat::netfilter::testing::Listen;
using ::probesnat::netfilter::testing::ScopedCgroup;
using ::probesnat::netfilter::testing::ScopedChild;
using ::probesnat::netfilter::testing::ScopedNetns;
using ::probesnat::netfilter::testing::WireNodePodTopology;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

absl::Status Sh(const std::string& command) {
  return ::probesnat::netfilter::testing::Run(command);
}

constexpr uint16_t kAppPort = 8080;
constexpr char kProbeV6[] = "fd16:9254:7127:1337:ffff:ffff:ffff:ffff";

class CgroupOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root: namespaces, cgroups and real packets";
    }
    if (!FindCgroup2Root("/proc/self/mountinfo").ok()) {
      GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
    }
    ScopedNetns::RemoveStale();
    ScopedCgroup::RemoveStale();
    for (auto [slot, label] : {std::pair{&node_, "node"}, {&pod_, "pod"}, {&outside_, "out"}}) {
      absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create(label);
      ASSERT_TRUE(ns.ok()) << ns.status();
      slot->emplace(*std::move(ns));
    }
    for (auto [slot, below] :
         {std::pair{&kubelet_cg_, "kubelet.service"}, {&other_cg_, "other.service"}}) {
      absl::StatusOr<ScopedCgroup> cg = ScopedCgroup::Create("origin", below);
      ASSERT_TRUE(cg.ok()) << cg.status();
      slot->emplace(*std::move(cg));
    }
    absl::Status wired = WireNodePodTopology(*node_, *pod_, *outside_);
    ASSERT_TRUE(wired.ok()) << wired;
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeNftablesBackend(node_->path());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    ASSERT_TRUE(backend_->ApplyPod(pod_->path(), PodRules{}, TableOwner{"pod-uid", 1}).ok());
    rules_ = KubeletRules();
    ASSERT_TRUE(backend_->EnsureHost(rules_).ok());
    ASSERT_TRUE(
        backend_
            ->UpdateHostMembers({{Ip("10.200.1.2"), "pod-uid"}, {Ip("fd00:1::2"), "pod-uid"}}, {})
            .ok());
  }

  void TearDown() override { backend_.reset(); }

  HostRules KubeletRules() const {
    HostRules rules;
    rules.origin = ProbeOrigin::kCgroup;
    absl::StatusOr<KubeletCgroup> cg = ResolveCgroup(kubelet_cg_->root(), kubelet_cg_->path());
    EXPECT_TRUE(cg.ok()) << cg.status();
    if (cg.ok()) {
      rules.kubelet_cgroup = *cg;
    }
    return rules;
  }

  // Where a connection from a child process in `cgroup` (in the node namespace) to dst:kAppPort
  // lands in the pod: "<listener port> <source address>", listeners on kAppPort and 15006.
  std::string Arrival(const ScopedCgroup* cgroup, const ScopedNetns& from, const IpAddress& dst) {
    absl::StatusOr<UniqueFd> app = Listen(*pod_, dst.family(), kAppPort);
    absl::StatusOr<UniqueFd> capture = Listen(*pod_, dst.family(), 15006);
    EXPECT_TRUE(app.ok() && capture.ok());
    if (!app.ok() || !capture.ok()) return "";
    const pid_t pid = ::fork();
    if (pid == 0) {
      // The socket belongs to the cgroup its creator is in when it is created.
      if (cgroup != nullptr && !cgroup->Enter(::getpid()).ok()) {
        ::_exit(2);
      }
      ::_exit(Connect(from, dst, kAppPort).ok() ? 0 : 1);
    }
    ScopedChild child(pid);
    absl::StatusOr<Accepted> got = AcceptOne({&*app, &*capture});
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? absl::StrCat(got->listener == 0 ? kAppPort : 15006, " ", got->peer) : "";
  }

  std::optional<ScopedNetns> node_, pod_, outside_;
  std::optional<ScopedCgroup> kubelet_cg_, other_cg_;
  std::unique_ptr<Backend> backend_;
  HostRules rules_;
};

TEST_F(CgroupOriginTest, TheKubeletsConnectionsComeFromTheProbeAddressAndSkipCapture) {
  EXPECT_EQ(Arrival(&*kubelet_cg_, *node_, Ip("10.200.1.2")), "8080 169.254.7.127");
  EXPECT_EQ(Arrival(&*kubelet_cg_, *node_, Ip("fd00:1::2")), absl::StrCat("8080 ", kProbeV6));
}

TEST_F(CgroupOriginTest, OtherHostProcessesComeFromTheNodeAddressAndAreCaptured) {
  EXPECT_EQ(Arrival(&*other_cg_, *node_, Ip("10.200.1.2")), "15006 10.200.1.1");
  EXPECT_EQ(Arrival(&*other_cg_, *node_, Ip("fd00:1::2")), "15006 fd00:1::1");
  // The test process itself (not in the kubelet's cgroup) is "another host process" too.
  EXPECT_EQ(Arrival(nullptr, *node_, Ip("10.200.1.2")), "15006 10.200.1.1");
}

TEST_F(CgroupOriginTest, ForwardedTrafficIsNeverRewritten) {
  // From outside through the node, even from a process in the kubelet's cgroup: forwarded
  // packets carry no socket of the node.
  EXPECT_EQ(Arrival(&*kubelet_cg_, *outside_, Ip("10.200.1.2")), "15006 10.200.2.2");
  EXPECT_EQ(Arrival(&*kubelet_cg_, *outside_, Ip("fd00:1::2")), "15006 fd00:2::2");
}

TEST_F(CgroupOriginTest, AKubeletCgroupMadeAgainHasANewIdAndTheRulesFollowIt) {
  const uint64_t old_id = rules_.kubelet_cgroup.id;
  ASSERT_TRUE(kubelet_cg_->Recreate().ok());
  const HostRules renewed = KubeletRules();
  ASSERT_NE(renewed.kubelet_cgroup.id, old_id);
  // The rule still names the old id: nobody is the kubelet now (never everyone).
  EXPECT_EQ(Arrival(&*kubelet_cg_, *node_, Ip("10.200.1.2")), "15006 10.200.1.1");
  absl::StatusOr<HostObservation> obs = backend_->ObserveHost(renewed);
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_FALSE(obs->rules_match);  // what the drift check sees
  ASSERT_TRUE(backend_->EnsureHost(renewed).ok());
  obs = backend_->ObserveHost(renewed);
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members.size(), 2u);  // members kept
  EXPECT_EQ(Arrival(&*kubelet_cg_, *node_, Ip("10.200.1.2")), "8080 169.254.7.127");
  EXPECT_EQ(Arrival(&*kubelet_cg_, *node_, Ip("fd00:1::2")), absl::StrCat("8080 ", kProbeV6));
}

TEST_F(CgroupOriginTest, AnyLocalStillGivesEveryHostProcessTheProbeAddress) {
  ASSERT_TRUE(backend_->EnsureHost(HostRules{}).ok());
  EXPECT_EQ(Arrival(&*other_cg_, *node_, Ip("10.200.1.2")), "8080 169.254.7.127");
  EXPECT_EQ(Arrival(&*kubelet_cg_, *node_, Ip("fd00:1::2")), absl::StrCat("8080 ", kProbeV6));
  EXPECT_EQ(Arrival(&*other_cg_, *outside_, Ip("10.200.1.2")), "15006 10.200.2.2");
}

// nft itself reads our rules back as the builder's text (with the cgroup's path, which nft finds
// by its id below /sys/fs/cgroup). nsenter, not `ip netns exec`, which remounts /sys.
TEST_F(CgroupOriginTest, NftListsTheRulesAsTheBuilderWritesThem) {
  std::string out;
  FILE* f = ::popen(
      absl::StrCat("nsenter --net=", node_->path(), " nft list table inet probesnat").c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  ::pclose(f);
  std::string expected = NftListText(BuildHostTable(rules_));
  // nft lists the set elements with their comments; the builder's text has none.
  EXPECT_NE(out.find(absl::StrCat("socket cgroupv2 level ", rules_.kubelet_cgroup.level, " \"",
                                  rules_.kubelet_cgroup.nft_path,
                                  "\" ct mark set ct mark | 0x00100000")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("meta skuid >= 0 ct mark & 0x00100000 == 0x00100000 snat ip to "
                     "169.254.7.127"),
            std::string::npos)
      << out;
  for (const char* line : {"chain origin_output {", "type filter hook output priority mangle"}) {
    EXPECT_NE(expected.find(line), std::string::npos) << expected;
    EXPECT_NE(out.find(line), std::string::npos) << out;
  }
}

// And nft compiles the builder's text (the path resolved by nft) into exactly our bytecode.
TEST_F(CgroupOriginTest, NftCompilesTheBuildersTextToOurBytecode) {
  absl::StatusOr<ScopedNetns> scratch = ScopedNetns::Create("nft");
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  char file[] = "/tmp/probesnat-cgroup-XXXXXX";
  const int fd = ::mkstemp(file);
  ASSERT_GE(fd, 0);
  const std::string text = NftListText(BuildHostTable(rules_));
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  absl::Status st = Sh(absl::StrCat("nsenter --net=", scratch->path(), " nft -f ", file));
  ::unlink(file);
  ASSERT_TRUE(st.ok()) << st << "\n" << text;
  absl::StatusOr<UniqueFd> ns = OpenNetns(scratch->path());
  ASSERT_TRUE(ns.ok());
  absl::StatusOr<NftSocket> socket = NftSocket::OpenIn(ns->get(), "scratch");
  ASSERT_TRUE(socket.ok()) << socket.status();
  absl::StatusOr<NftTableState> state = ReadTable(*socket, kTableName, {});
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_TRUE(state->present);
  EXPECT_EQ(RenderTable(state->table), RenderTable(BuildHostTable(rules_)));
}

}  // namespace
}  // namespace probesnat::netfilter
