// The reconciler knows a pod's network namespace by identity, opened once at enroll: aliases of
// one namespace conflict, a path that comes to name another namespace is never written through,
// and removal reaches the namespace after its path is gone.
#include <algorithm>
#include <string>
#include <vector>

#include "agent/daemon/reconciler.h"
#include "agent/daemon/status_event_hub.h"
#include "agent/daemon/testing/fake_backend.h"
#include "agent/daemon/testing/ip_literal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using testing::FakeBackend;
using Op = FakeBackend::Op;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using testing::Ip;

class ReconcilerNetnsIdentityTest : public ::testing::Test {
 protected:
  // The pod as validation hands it over, its namespace opened through the fake.
  DesiredPod MakePod(const std::string& uid, const std::string& ip, const std::string& netns,
                     bool capture = true) {
    DesiredPod p;
    p.spec.uid = uid;
    p.spec.ns = "default";
    p.spec.name = "pod-" + uid;
    p.spec.netns_path = netns;
    p.spec.ips = {Ip(ip)};
    p.spec.overrides.disable_inbound_capture = !capture;
    absl::StatusOr<netfilter::NetnsHandle> handle = fake_.OpenPodNetns(netns);
    EXPECT_TRUE(handle.ok()) << handle.status();
    if (handle.ok()) {
      p.netns = *handle;
    }
    return p;
  }

  ReconcilerNetnsIdentityTest() : reconciler_(fake_, ReconcilerOptions{}, events_) {
    fake_.AddNamespace("/run/netns/a");
    fake_.AddNamespace("/run/netns/b");
  }

  FakeBackend fake_;
  StatusEventHub events_;
  Reconciler reconciler_;
};

// 16.10: a second uid with another path to B's namespace is refused and B's table is untouched.
TEST_F(ReconcilerNetnsIdentityTest, AnAliasOfAnEnrolledNamespaceIsFailedPrecondition) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("uid-b", "10.0.0.2", "/run/netns/b"), {}).ok());
  const std::optional<netfilter::PodRules> b_table = fake_.pod_table("/run/netns/b");
  ASSERT_TRUE(b_table.has_value());
  fake_.AliasNamespace("/proc/4242/ns/net", "/run/netns/b");
  const int applies = fake_.calls(Op::kApplyPod);

  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("uid-x", "10.0.0.9", "/proc/4242/ns/net", /*capture=*/false), {});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition) << st.status();
  EXPECT_THAT(std::string(st.status().message()), HasSubstr("uid-b"));
  EXPECT_THAT(std::string(st.status().message()), HasSubstr("/proc/4242/ns/net"));
  EXPECT_EQ(fake_.calls(Op::kApplyPod), applies);
  EXPECT_EQ(fake_.pod_table("/run/netns/b"), b_table);
  EXPECT_FALSE(reconciler_.Get("uid-x").ok());

  // Unenrolling the refused uid changes nothing of B's.
  ASSERT_TRUE(reconciler_.Unenroll("uid-x").ok());
  EXPECT_EQ(fake_.pod_table("/run/netns/b"), b_table);
  EXPECT_EQ(reconciler_.Get("uid-b")->phase, agent::PodPhase::kApplied);
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.2")));
}

TEST_F(ReconcilerNetnsIdentityTest, SyncRefusesTwoItemsNamingOneNamespace) {
  fake_.AliasNamespace("/run/netns/b-alias", "/run/netns/b");
  std::vector<SyncItem> items;
  items.push_back({MakePod("uid-b", "10.0.0.2", "/run/netns/b"), {}});
  items.push_back({MakePod("uid-x", "10.0.0.9", "/run/netns/b-alias", false), {}});
  SyncOutcome out = reconciler_.Sync(std::move(items));
  ASSERT_EQ(out.states.size(), 2u);
  EXPECT_EQ(out.states[0].phase, agent::PodPhase::kApplied);
  EXPECT_EQ(out.states[1].phase, agent::PodPhase::kFailed);
  EXPECT_THAT(out.states[1].reason, HasSubstr("uid-b"));
  EXPECT_TRUE(fake_.pod_table("/run/netns/b")->inbound_capture);
  EXPECT_FALSE(reconciler_.Get("uid-x").ok());
}

// 16.11: A's path comes to name B's namespace (pid reused): the drift check writes nothing there
// and reports A's namespace gone.
TEST_F(ReconcilerNetnsIdentityTest, APathThatNowNamesAnotherNamespaceIsNeverWrittenThrough) {
  fake_.AddNamespace("/proc/100/ns/net");
  ASSERT_TRUE(reconciler_.Enroll(MakePod("uid-a", "10.0.0.1", "/proc/100/ns/net", false), {}).ok());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("uid-b", "10.0.0.2", "/run/netns/b"), {}).ok());
  fake_.DeleteNamespace("/proc/100/ns/net");
  fake_.AliasNamespace("/proc/100/ns/net", "/run/netns/b");  // the pid now runs in B's namespace
  fake_.DeletePodTable("/run/netns/b");  // and B's table needs a repair: A's must not be written
  const int applies = fake_.calls(Op::kApplyPod);

  reconciler_.Resync();
  absl::StatusOr<agent::PodState> a = reconciler_.Get("uid-a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->phase, agent::PodPhase::kFailed);
  EXPECT_THAT(a->reason, HasSubstr("now names another namespace"));
  EXPECT_EQ(fake_.calls(Op::kApplyPod), applies + 1);  // B's repair only
  ASSERT_TRUE(fake_.pod_table("/run/netns/b").has_value());
  EXPECT_TRUE(fake_.pod_table("/run/netns/b")->inbound_capture);   // B's rules, not A's
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.2")));  // A's address withdrawn

  // Another drift check changes nothing; the failure is reported once.
  reconciler_.Resync();
  EXPECT_EQ(fake_.calls(Op::kApplyPod), applies + 1);
  EXPECT_TRUE(fake_.pod_table("/run/netns/b")->inbound_capture);
}

// A re-enroll by the same path that now names another namespace is a move, not a no-op.
TEST_F(ReconcilerNetnsIdentityTest, IdenticalReEnrollOfAPathNamingANewNamespaceAppliesThere) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("uid-a", "10.0.0.1", "/run/netns/a"), {}).ok());
  fake_.DeleteNamespace("/run/netns/a");
  fake_.AddNamespace("/run/netns/a");  // sandbox re-created at the same path
  ASSERT_TRUE(reconciler_.Enroll(MakePod("uid-a", "10.0.0.1", "/run/netns/a"), {}).ok());
  EXPECT_TRUE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_EQ(fake_.pod_table_count(), 1);  // removed from the old namespace through its handle
}

// 18.1: the path is gone while the namespace lives on: Unenroll still removes the table.
TEST_F(ReconcilerNetnsIdentityTest, UnenrollReachesTheNamespaceAfterItsPathIsGone) {
  fake_.AliasNamespace("/proc/200/ns/net", "/run/netns/a");
  ASSERT_TRUE(reconciler_.Enroll(MakePod("uid-a", "10.0.0.1", "/proc/200/ns/net"), {}).ok());
  ASSERT_TRUE(fake_.pod_table("/run/netns/a").has_value());
  fake_.DeleteNamespace("/proc/200/ns/net");  // the process exited; /run/netns/a keeps it
  reconciler_.Resync();
  EXPECT_EQ(reconciler_.Get("uid-a")->phase, agent::PodPhase::kFailed);
  ASSERT_TRUE(reconciler_.Unenroll("uid-a").ok());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_EQ(fake_.pod_table_count(), 0);
  EXPECT_THAT(fake_.host_members(), IsEmpty());
}

TEST_F(ReconcilerNetnsIdentityTest, RemovalThatCannotReachTheNamespaceIsReported) {
  fake_.AliasNamespace("/proc/300/ns/net", "/run/netns/a");
  ASSERT_TRUE(reconciler_.Enroll(MakePod("uid-a", "10.0.0.1", "/proc/300/ns/net"), {}).ok());
  fake_.DeleteNamespace("/proc/300/ns/net");
  fake_.FailNext(Op::kRemovePod, absl::UnavailableError("netlink: Operation not permitted"));
  absl::StatusOr<std::optional<agent::PodSpec>> removed = reconciler_.Unenroll("uid-a");
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(removed.status().message()), HasSubstr("/proc/300/ns/net"));
  EXPECT_TRUE(fake_.pod_table("/run/netns/a").has_value());
  ASSERT_TRUE(reconciler_.Unenroll("uid-a").ok());  // retried through the same handle
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
}

// Validation opened the namespace; the path then names another one (its process exited and the
// pid was reused): the pod's table goes into the namespace validation opened, and the path is not
// resolved again to write it.
TEST_F(ReconcilerNetnsIdentityTest, EnrollWritesThroughTheHandleValidationOpened) {
  fake_.AliasNamespace("/proc/500/ns/net", "/run/netns/b");
  DesiredPod pod = MakePod("uid-g", "10.0.0.6", "/proc/500/ns/net");
  const int opens = fake_.calls(Op::kOpenPodNetns);
  fake_.AliasNamespace("/proc/500/ns/net", "/run/netns/a");
  absl::StatusOr<agent::PodState> st = reconciler_.Enroll(std::move(pod), {});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(fake_.pod_table("/run/netns/b").has_value());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_EQ(fake_.calls(Op::kOpenPodNetns), opens);
}

}  // namespace
}  // namespace probesnat::daemon
