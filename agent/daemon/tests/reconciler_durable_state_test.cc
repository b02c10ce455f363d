// The reconciler's journal and start-up re-adoption, over the fake kernel and an in-memory
// journal. A "restart" is a second Reconciler over the same fake kernel, adopting what the first
// one journaled.
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "agent/daemon/reconciler.h"
#include "agent/daemon/status_event_hub.h"
#include "agent/daemon/testing/fake_backend.h"
#include "agent/daemon/testing/desired_pod.h"
#include "agent/daemon/testing/fake_journal.h"
#include "agent/daemon/testing/ip_literal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using testing::FakeBackend;
using testing::FakeJournal;
using testing::Ip;
using Op = FakeBackend::Op;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using testing::PodIn;

class DurableStateTest : public ::testing::Test {
 protected:
  DurableStateTest() {
    for (const char* ns : {"/run/netns/a", "/run/netns/b", "/run/netns/c"}) {
      fake_.AddNamespace(ns);
    }
    first_ = std::make_unique<Reconciler>(fake_, ReconcilerOptions{}, events_, &journal_);
    first_->EnsureHost().IgnoreError();
    first_->Adopt({}, /*state_trusted=*/true);
  }

  DesiredPod Pod(const std::string& uid, const std::vector<std::string>& ips,
                 const std::string& netns) {
    return PodIn(fake_, uid, ips, netns);
  }

  // A new agent over the same kernel, adopting what the journal holds.
  Reconciler& Restart(bool state_trusted = true) {
    first_.reset();
    second_ = std::make_unique<Reconciler>(fake_, ReconcilerOptions{}, events2_, &journal_);
    EXPECT_TRUE(second_->EnsureHost().ok());
    report_ = second_->Adopt(journal_.PodList(), state_trusted);
    return *second_;
  }

  static std::optional<agent::PodState> Find(const std::vector<agent::PodState>& pods,
                                             const std::string& uid) {
    for (const agent::PodState& p : pods) {
      if (p.spec.uid == uid) {
        return p;
      }
    }
    return std::nullopt;
  }

  FakeBackend fake_;
  FakeJournal journal_;
  StatusEventHub events_;
  StatusEventHub events2_;
  std::unique_ptr<Reconciler> first_;
  std::unique_ptr<Reconciler> second_;
  AdoptionReport report_;
};

TEST_F(DurableStateTest, EnrollJournalsBeforeTheKernelIsWrittenAndOwnersAreMarked) {
  std::vector<std::string> kernel_at_put;
  journal_.on_call = [&](const std::string& call) {
    kernel_at_put.push_back(call + (fake_.pod_table("/run/netns/a") ? " table" : " no-table") +
                            (fake_.host_members().empty() ? " no-members" : " members"));
  };
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {}).ok());
  EXPECT_THAT(kernel_at_put, ElementsAre("put u1 no-table no-members"));
  ASSERT_EQ(journal_.pods().count("u1"), 1u);
  const JournaledPod j = journal_.pods().at("u1");  // pods() returns a copy
  EXPECT_EQ(j.generation, 1u);
  EXPECT_FALSE(j.removing);
  EXPECT_EQ(j.netns, fake_.OpenPodNetns("/run/netns/a")->id);
  EXPECT_EQ(j.spec.ips, (std::vector<IpAddress>{Ip("10.0.0.1"), Ip("fd00::1")}));
  EXPECT_THAT(fake_.host_member_owners(),
              UnorderedElementsAre(Pair(Ip("10.0.0.1"), "u1"), Pair(Ip("fd00::1"), "u1")));
  EXPECT_EQ(fake_.pod_table_owner("/run/netns/a"), (netfilter::TableOwner{"u1", 1}));
}

TEST_F(DurableStateTest, AChangedSpecIsJournaledWithTheNextGeneration) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());  // identical
  DesiredPod changed = Pod("u1", {"10.0.0.2"}, "/run/netns/a");
  ASSERT_TRUE(first_->Enroll(std::move(changed), {}).ok());
  EXPECT_THAT(journal_.calls(), ElementsAre("put u1", "put u1"));
  EXPECT_EQ(journal_.pods().at("u1").generation, 2u);
  EXPECT_EQ(journal_.pods().at("u1").spec.ips, std::vector<IpAddress>{Ip("10.0.0.2")});
  EXPECT_EQ(fake_.pod_table_owner("/run/netns/a"), (netfilter::TableOwner{"u1", 2}));
}

TEST_F(DurableStateTest, UnenrollErasesOnlyAfterTheKernelIsClean) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  std::vector<std::string> kernel_at_erase;
  journal_.on_call = [&](const std::string& call) {
    kernel_at_erase.push_back(call + (fake_.pod_table("/run/netns/a") ? " table" : " no-table") +
                              (fake_.host_members().empty() ? " no-members" : " members"));
  };
  absl::StatusOr<std::optional<agent::PodSpec>> removed = first_->Unenroll("u1");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->has_value());
  EXPECT_THAT(kernel_at_erase, ElementsAre("erase u1 no-table no-members"));
  EXPECT_THAT(journal_.pods(), IsEmpty());
}

TEST_F(DurableStateTest, AFailedJournalWriteRefusesTheEnrollAndWritesNothing) {
  journal_.FailNext(absl::UnavailableError("No space left on device"));
  absl::StatusOr<agent::PodState> st = first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), ::testing::HasSubstr("state file"));
  EXPECT_THAT(st.status().message(), ::testing::HasSubstr("No space left on device"));
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_THAT(fake_.host_members(), IsEmpty());
  EXPECT_EQ(first_->Get("u1")->phase, agent::PodPhase::kFailed);
  // The drift check retries the journal write, then the kernel.
  first_->Resync();
  EXPECT_EQ(first_->Get("u1")->phase, agent::PodPhase::kApplied);
  EXPECT_EQ(journal_.pods().count("u1"), 1u);
}

TEST_F(DurableStateTest, AFailedRemovalIsJournaledAndFinishedAfterARestart) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.FailNext(Op::kRemovePod, absl::UnavailableError("EBUSY"));
  EXPECT_FALSE(first_->Unenroll("u1").ok());
  EXPECT_TRUE(journal_.pods().at("u1").removing);
  Reconciler& r = Restart();
  EXPECT_EQ(report_.removals_finished, 1);
  EXPECT_THAT(r.List(), IsEmpty());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_THAT(fake_.host_members(), IsEmpty());
  EXPECT_THAT(journal_.pods(), IsEmpty());
}

TEST_F(DurableStateTest, RestartAdoptsUnchangedPodsWithoutWritingAnything) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  const uint64_t handle_a = fake_.pod_table_handle("/run/netns/a");
  const int mutations = fake_.mutating_calls();
  Reconciler& r = Restart();
  EXPECT_EQ(report_.adopted, 2);
  EXPECT_EQ(report_.rewritten, 0);
  EXPECT_EQ(report_.host.kept, 3);
  EXPECT_EQ(report_.host.written, 0);
  // EnsureHost found the host table as desired: the only calls are read-backs.
  EXPECT_EQ(fake_.mutating_calls(), mutations + 1);  // EnsureHost (a no-op in the kernel)
  EXPECT_EQ(fake_.calls(Op::kApplyPod), 2);
  EXPECT_EQ(fake_.pod_table_handle("/run/netns/a"), handle_a);
  std::vector<agent::PodState> pods = r.List();
  ASSERT_EQ(pods.size(), 2u);
  EXPECT_EQ(Find(pods, "u1")->phase, agent::PodPhase::kApplied);
  EXPECT_EQ(Find(pods, "u1")->generation, 1u);
  EXPECT_EQ(Find(pods, "u1")->spec.ips, (std::vector<IpAddress>{Ip("10.0.0.1"), Ip("fd00::1")}));
}

TEST_F(DurableStateTest, UnenrollAfterARestartRemovesMembersAndTable) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  Reconciler& r = Restart();
  absl::StatusOr<std::optional<agent::PodSpec>> removed = r.Unenroll("u1");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->has_value());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.2")));
  EXPECT_THAT(journal_.pods(), ElementsAre(Pair("u2", ::testing::_)));
}

TEST_F(DurableStateTest, RestartRewritesMissingEditedAndForeignTablesAndMembers) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("u3", {"10.0.0.3"}, "/run/netns/c"), {}).ok());
  first_.reset();
  fake_.DeletePodTable("/run/netns/a");
  fake_.EditPodTable("/run/netns/b");
  // A table of the right shape but not marked as u3's (written by hand or by another owner).
  ASSERT_TRUE(fake_.ApplyPod("/run/netns/c", netfilter::PodRules{}, {"someone-else", 7}).ok());
  ASSERT_TRUE(fake_.UpdateHostMembers({{Ip("10.0.0.2"), "stale-owner"}}, {Ip("10.0.0.3")}).ok());
  Reconciler& r = Restart();
  EXPECT_EQ(report_.adopted, 0);
  EXPECT_EQ(report_.rewritten, 3);
  EXPECT_EQ(report_.host.kept, 1);
  EXPECT_EQ(report_.host.written, 2);
  for (const char* uid : {"u1", "u2", "u3"}) {
    EXPECT_EQ(r.Get(uid)->phase, agent::PodPhase::kApplied) << uid;
  }
  EXPECT_EQ(fake_.pod_table_owner("/run/netns/c"), (netfilter::TableOwner{"u3", 1}));
  EXPECT_THAT(fake_.host_member_owners(),
              UnorderedElementsAre(Pair(Ip("10.0.0.1"), "u1"), Pair(Ip("10.0.0.2"), "u2"),
                                   Pair(Ip("10.0.0.3"), "u3")));
}

TEST_F(DurableStateTest, APodWhoseNamespaceVanishedIsFailedAndGivesUpItsAddresses) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  first_.reset();
  fake_.DeleteNamespace("/run/netns/a");
  fake_.DeleteNamespace("/run/netns/b");
  fake_.AddNamespace("/run/netns/b");  // the path now names a new namespace
  Reconciler& r = Restart();
  EXPECT_EQ(report_.namespaces_gone, 2);
  EXPECT_EQ(r.Get("u1")->phase, agent::PodPhase::kFailed);
  EXPECT_THAT(r.Get("u1")->reason, ::testing::HasSubstr("no longer exists"));
  EXPECT_THAT(r.Get("u2")->reason, ::testing::HasSubstr("another namespace"));
  EXPECT_THAT(fake_.host_members(), IsEmpty());
  EXPECT_FALSE(fake_.pod_table("/run/netns/b").has_value());  // nothing written into the new one
  // Unenroll forgets them.
  EXPECT_TRUE(r.Unenroll("u1").ok());
  EXPECT_TRUE(r.Unenroll("u2").ok());
  EXPECT_THAT(journal_.pods(), IsEmpty());
}

TEST_F(DurableStateTest, MembersNoJournaledPodOwnsGoWhenTheStateIsTrustedAndStayOtherwise) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.AddHostMember(Ip("10.9.9.9"), "gone-pod");
  fake_.AddHostMember(Ip("10.8.8.8"));  // no owner (an older agent)
  {
    Restart(/*state_trusted=*/false);
    EXPECT_THAT(report_.host.left, UnorderedElementsAre(netfilter::HostMember{Ip("10.9.9.9"), "gone-pod"},
                                                        netfilter::HostMember{Ip("10.8.8.8"), ""}));
    EXPECT_EQ(fake_.host_members().size(), 3u);
    second_->Resync();  // until a Sync says what is desired, the drift check keeps them too
    EXPECT_EQ(fake_.host_members().size(), 3u);
  }
  Restart(/*state_trusted=*/true);
  EXPECT_EQ(report_.host.removed.size(), 2u);
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));
}

TEST_F(DurableStateTest, WithTheStateLostUnenrollStillRemovesWhatTheKernelSaysThePodOwns) {
  ASSERT_TRUE(first_->Enroll(Pod("lost", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("other", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  ASSERT_TRUE(first_->Enroll(Pod("reused", {"10.0.0.3"}, "/run/netns/c"), {}).ok());
  journal_.Clear();  // the state file was damaged: the agent knows none of them
  Reconciler& r = Restart(/*state_trusted=*/false);
  EXPECT_EQ(report_.host.left.size(), 4u);
  EXPECT_EQ(fake_.host_members().size(), 4u);
  // 10.0.0.3 is taken by a new pod before the late Unenroll of the pod the kernel named.
  ASSERT_TRUE(r.Enroll(Pod("new", {"10.0.0.3"}, "/run/netns/c"), {}).ok());

  absl::StatusOr<std::optional<agent::PodSpec>> gone = r.Unenroll("lost");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_value()) << "the agent did not know the pod";
  EXPECT_THAT(fake_.host_member_owners(),
              UnorderedElementsAre(Pair(Ip("10.0.0.2"), "other"), Pair(Ip("10.0.0.3"), "new")));
  gone = r.Unenroll("reused");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_THAT(fake_.host_member_owners(),
              UnorderedElementsAre(Pair(Ip("10.0.0.2"), "other"), Pair(Ip("10.0.0.3"), "new")))
      << "the address now belongs to another pod";
  gone = r.Unenroll("other");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_THAT(fake_.host_member_owners(), ElementsAre(Pair(Ip("10.0.0.3"), "new")));
}

TEST_F(DurableStateTest, ALateUnenrollOfAnOldPodNeverRemovesTheAddressANewPodOwns) {
  ASSERT_TRUE(first_->Enroll(Pod("old", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.DeleteNamespace("/run/netns/a");  // deleted without Unenroll
  ASSERT_TRUE(first_->Enroll(Pod("new", {"10.0.0.1"}, "/run/netns/b"), {}).ok());
  EXPECT_THAT(fake_.host_member_owners(), ElementsAre(Pair(Ip("10.0.0.1"), "new")));
  absl::StatusOr<std::optional<agent::PodSpec>> late = first_->Unenroll("old");
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->has_value());
  EXPECT_THAT(fake_.host_member_owners(), ElementsAre(Pair(Ip("10.0.0.1"), "new")));
  // And across a restart.
  Reconciler& r = Restart();
  late = r.Unenroll("old");
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->has_value());
  EXPECT_THAT(fake_.host_member_owners(), ElementsAre(Pair(Ip("10.0.0.1"), "new")));
  EXPECT_EQ(r.Get("new")->phase, agent::PodPhase::kApplied);
}

TEST_F(DurableStateTest, AnAddressPassesToItsOtherHolderWhenItsOwnerLetsGo) {
  // Within one Sync two pods may hold an address for a moment (a swap).
  HostMembership host(fake_, netfilter::HostRules{});
  ASSERT_TRUE(host.EnsureHost().ok());
  ASSERT_TRUE(host.Hold("a", {Ip("10.0.0.1")}).ok());
  ASSERT_TRUE(host.Hold("b", {Ip("10.0.0.1")}).ok());
  EXPECT_THAT(fake_.host_member_owners(), ElementsAre(Pair(Ip("10.0.0.1"), "a")));
  ASSERT_TRUE(host.Release("a").ok());
  EXPECT_THAT(fake_.host_member_owners(), ElementsAre(Pair(Ip("10.0.0.1"), "b")));
  ASSERT_TRUE(host.Release("b").ok());
  EXPECT_THAT(fake_.host_member_owners(), IsEmpty());
}

TEST_F(DurableStateTest, EnrollWaitsUntilStartUpAdoptionIsDone) {
  first_.reset();
  Reconciler r(fake_, ReconcilerOptions{}, events2_, &journal_);
  ASSERT_TRUE(r.EnsureHost().ok());
  std::future<absl::StatusOr<agent::PodState>> enroll = std::async(
      std::launch::async, [&] { return r.Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}); });
  EXPECT_EQ(enroll.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  EXPECT_THAT(journal_.calls(), IsEmpty());
  r.Adopt({}, true);
  ASSERT_TRUE(enroll.get().ok());
}

TEST_F(DurableStateTest, SyncJournalsTheDesiredSetExactly) {
  ASSERT_TRUE(first_->Enroll(Pod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  std::vector<SyncItem> items;
  items.push_back({Pod("u2", {"10.0.0.2"}, "/run/netns/b"), {}});
  items.push_back({Pod("u3", {"10.0.0.3"}, "/run/netns/c"), {}});
  first_->Sync(std::move(items));
  EXPECT_THAT(journal_.pods(), ElementsAre(Pair("u2", ::testing::_), Pair("u3", ::testing::_)));
  Reconciler& r = Restart();
  EXPECT_EQ(report_.adopted, 2);
  EXPECT_EQ(r.List().size(), 2u);
}

}  // namespace
}  // namespace probesnat::daemon
