#include "agent/daemon/reconciler.h"

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"

#include "agent/daemon/status_event_hub.h"
#include "agent/daemon/testing/fake_backend.h"
#include "agent/daemon/testing/desired_pod.h"
#include "agent/daemon/testing/ip_literal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using testing::FakeBackend;
using Op = FakeBackend::Op;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using testing::Ip;

using testing::PodIn;

class ReconcilerTest : public ::testing::Test {
 protected:
  static ReconcilerOptions WithReadBack() {
    ReconcilerOptions o;
    o.readback_after_apply = true;
    return o;
  }

  DesiredPod MakePod(const std::string& uid, const std::vector<std::string>& ips,
                     const std::string& netns) {
    return PodIn(fake_, uid, ips, netns);
  }

  ReconcilerTest() : reconciler_(fake_, WithReadBack(), events_) {
    for (const char* ns : {"/run/netns/a", "/run/netns/b", "/run/netns/c", "/run/netns/a2"}) {
      fake_.AddNamespace(ns);
    }
  }

  // Drains the events the reconciler published so far.
  std::vector<agent::PodState> Events() {
    std::vector<agent::PodState> out;
    agent::PodState s;
    while (watch_->Pop(absl::ZeroDuration(), &s) == StatusSubscription::Next::kEvent) {
      out.push_back(s);
    }
    return out;
  }

  FakeBackend fake_;
  StatusEventHub events_;
  Reconciler reconciler_;
  std::shared_ptr<StatusSubscription> watch_ = reconciler_.Watch(false);
};

TEST_F(ReconcilerTest, EnrollAddsHostMembersAndPodTableThenReportsApplied) {
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->phase, agent::PodPhase::kApplied);
  EXPECT_EQ(st->generation, 1u);
  EXPECT_GT(st->updated, absl::UnixEpoch());
  EXPECT_TRUE(fake_.host_table_present());
  EXPECT_THAT(fake_.host_members(), UnorderedElementsAre(Ip("10.0.0.1"), Ip("fd00::1")));
  ASSERT_TRUE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_EQ(*fake_.pod_table("/run/netns/a"), netfilter::PodRules{});
  // One host transaction for the addresses, one pod transaction, one read-back.
  EXPECT_EQ(fake_.calls(Op::kUpdateHostMembers), 1);
  EXPECT_EQ(fake_.calls(Op::kApplyPod), 1);
  EXPECT_EQ(fake_.calls(Op::kObservePod), 1);
  std::vector<agent::PodState> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].phase, agent::PodPhase::kApplied);
  EXPECT_EQ(events[0].spec.uid, "u1");
}

TEST_F(ReconcilerTest, OverridesTurnCaptureOffInThePodRules) {
  DesiredPod pod = MakePod("u1", {"10.0.0.1"}, "/run/netns/a");
  pod.spec.overrides.disable_inbound_capture = true;
  ASSERT_TRUE(reconciler_.Enroll(pod, {}).ok());
  ASSERT_TRUE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a")->inbound_capture);
  EXPECT_TRUE(fake_.pod_table("/run/netns/a")->outbound_capture);
}

TEST_F(ReconcilerTest, PodRulesTrustTheProbeSourceOnlyOfTheEnrolledFamilies) {
  for (const auto& [ips, v4, v6] :
       {std::tuple{std::vector<std::string>{"10.0.0.1"}, true, false},
        std::tuple{std::vector<std::string>{"fd00::1"}, false, true},
        std::tuple{std::vector<std::string>{"10.0.0.1", "fd00::1"}, true, true}}) {
    ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", ips, "/run/netns/a"), {}).ok());
    ASSERT_TRUE(fake_.pod_table("/run/netns/a").has_value());
    EXPECT_EQ(fake_.pod_table("/run/netns/a")->enrolled_v4, v4)
        << ips.front() << " of " << ips.size();
    EXPECT_EQ(fake_.pod_table("/run/netns/a")->enrolled_v6, v6)
        << ips.front() << " of " << ips.size();
  }
}

TEST_F(ReconcilerTest, IdenticalReEnrollIsANoOp) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  Events();
  int before = fake_.mutating_calls();
  absl::StatusOr<agent::PodState> again =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->phase, agent::PodPhase::kApplied);
  EXPECT_EQ(again->generation, 1u);
  EXPECT_EQ(fake_.mutating_calls(), before);
  EXPECT_THAT(Events(), IsEmpty());
}

TEST_F(ReconcilerTest, ReEnrollWithNewIpsRemovesTheOldOnesAndBumpsGeneration) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {}).ok());
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.2", "fd00::1"}, "/run/netns/a"), {});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->generation, 2u);
  EXPECT_EQ(st->phase, agent::PodPhase::kApplied);
  EXPECT_THAT(fake_.host_members(), UnorderedElementsAre(Ip("10.0.0.2"), Ip("fd00::1")));
}

TEST_F(ReconcilerTest, ReEnrollInANewNamespaceMovesThePodTable) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a2"), {}).ok());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_TRUE(fake_.pod_table("/run/netns/a2").has_value());
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));
}

TEST_F(ReconcilerTest, MetadataOnlyChangeBumpsGenerationWithoutKernelCalls) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  int before = fake_.mutating_calls();
  DesiredPod relabeled = MakePod("u1", {"10.0.0.1"}, "/run/netns/a");
  relabeled.spec.labels["app"] = "web";
  absl::StatusOr<agent::PodState> st = reconciler_.Enroll(relabeled, {});
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->generation, 2u);
  EXPECT_EQ(st->spec.labels.at("app"), "web");
  EXPECT_EQ(fake_.mutating_calls(), before);
}

TEST_F(ReconcilerTest, SameIpForAnotherUidIsFailedPreconditionAndChangesNothing) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  int before = fake_.mutating_calls();
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u2", {"10.0.0.1"}, "/run/netns/b"), {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.status().message()), ::testing::HasSubstr("10.0.0.1"));
  EXPECT_THAT(std::string(st.status().message()), ::testing::HasSubstr("u1"));
  EXPECT_EQ(fake_.mutating_calls(), before);
  EXPECT_FALSE(reconciler_.Get("u2").ok());
}

TEST_F(ReconcilerTest, SameNamespaceForAnotherUidIsFailedPrecondition) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u2", {"10.0.0.2"}, "/run/netns/a"), {});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReconcilerTest, StalePodWhoseNamespaceIsGoneIsEvictedWhenItsIpIsReused) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  Events();
  fake_.DeleteNamespace("/run/netns/a");
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u2", {"10.0.0.1"}, "/run/netns/b"), {});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(reconciler_.Get("u1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));
  std::vector<agent::PodState> events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].spec.uid, "u1");
  EXPECT_EQ(events[0].phase, agent::PodPhase::kRemoved);
  EXPECT_EQ(events[1].spec.uid, "u2");
}

TEST_F(ReconcilerTest, ApplyPodFailureRollsBackTheHostMembersAndReportsFailed) {
  fake_.FailNext(Op::kApplyPod, absl::UnavailableError("netlink: Operation not permitted"));
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(st.status().message()), ::testing::HasSubstr("Operation not permitted"));
  EXPECT_THAT(fake_.host_members(), IsEmpty());  // rolled back
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  absl::StatusOr<agent::PodState> got = reconciler_.Get("u1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->phase, agent::PodPhase::kFailed);
  EXPECT_THAT(got->reason, ::testing::HasSubstr("applying the pod table failed"));
  std::vector<agent::PodState> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].phase, agent::PodPhase::kFailed);
}

TEST_F(ReconcilerTest, FailedUpdateKeepsThePreviouslyAppliedState) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.FailNext(Op::kApplyPod, absl::UnavailableError("boom"));
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.2"}, "/run/netns/a2"), {});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnavailable);
  // The old address is back in the set, the new one is not; the old table is untouched.
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));
  EXPECT_TRUE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a2").has_value());
}

TEST_F(ReconcilerTest, HostUpdateFailureLeavesNothingBehind) {
  fake_.FailNext(Op::kUpdateHostMembers, absl::UnavailableError("ENOBUFS"));
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(fake_.host_members(), IsEmpty());
  EXPECT_EQ(fake_.calls(Op::kApplyPod), 0);
}

TEST_F(ReconcilerTest, EnrollRepairsADeletedHostTableAndKeepsOtherPodsMembers) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.DeleteHostTable();  // someone ran `nft delete table inet probesnat`
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u2", {"10.0.0.2"}, "/run/netns/b"), {});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(fake_.host_table_present());
  EXPECT_THAT(fake_.host_members(), UnorderedElementsAre(Ip("10.0.0.1"), Ip("10.0.0.2")));
}

TEST_F(ReconcilerTest, ReadBackMismatchIsAFailure) {
  fake_.FailNext(Op::kObservePod, absl::UnavailableError("dump interrupted"));
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(fake_.host_members(), IsEmpty());
  EXPECT_EQ(reconciler_.Get("u1")->phase, agent::PodPhase::kFailed);
}

TEST_F(ReconcilerTest, RetryAfterFailureApplies) {
  fake_.FailNext(Op::kApplyPod, absl::UnavailableError("boom"));
  ASSERT_FALSE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->phase, agent::PodPhase::kApplied);
  EXPECT_EQ(st->generation, 1u);  // the desired state did not change
  EXPECT_TRUE(st->reason.empty());
}

TEST_F(ReconcilerTest, HostTableIsCreatedOnFirstEnrollWhenStartupFailed) {
  fake_.FailNext(Op::kEnsureHost, absl::UnavailableError("no nf_tables"));
  EXPECT_FALSE(reconciler_.EnsureHost().ok());
  EXPECT_FALSE(reconciler_.host_ready());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  EXPECT_TRUE(reconciler_.host_ready());
  EXPECT_TRUE(fake_.host_table_present());
}

TEST_F(ReconcilerTest, UnenrollRemovesEverythingAndIsIdempotent) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  Events();
  absl::StatusOr<std::optional<agent::PodSpec>> removed = reconciler_.Unenroll("u1");
  ASSERT_TRUE(removed.ok());
  ASSERT_TRUE(removed->has_value());
  EXPECT_EQ((*removed)->name, "pod-u1");
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.2")));
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_TRUE(fake_.pod_table("/run/netns/b").has_value());
  std::vector<agent::PodState> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].phase, agent::PodPhase::kRemoved);
  EXPECT_EQ(events[0].spec.uid, "u1");
  EXPECT_EQ(events[0].spec.ips[0], Ip("10.0.0.1"));
  absl::StatusOr<std::optional<agent::PodSpec>> again = reconciler_.Unenroll("u1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(reconciler_.Get("u1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReconcilerTest, UnenrollSucceedsWhenThePodNamespaceIsGone) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.DeleteNamespace("/run/netns/a");
  absl::StatusOr<std::optional<agent::PodSpec>> removed = reconciler_.Unenroll("u1");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->has_value());
  EXPECT_THAT(fake_.host_members(), IsEmpty());
}

TEST_F(ReconcilerTest, FailedUnenrollIsUnavailableAndFinishedByTheNextAttempt) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.FailNext(Op::kRemovePod, absl::UnavailableError("EBUSY"));
  absl::StatusOr<std::optional<agent::PodSpec>> removed = reconciler_.Unenroll("u1");
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(fake_.host_members(), IsEmpty());  // probes to it are no longer SNATed
  EXPECT_EQ(reconciler_.Get("u1")->phase, agent::PodPhase::kFailed);
  removed = reconciler_.Unenroll("u1");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->has_value());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
}

TEST_F(ReconcilerTest, SyncEnrollsTheGivenSetAndRemovesTheRest) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("old", {"10.0.0.9"}, "/run/netns/c"), {}).ok());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  std::vector<SyncItem> items;
  items.push_back({MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}});
  items.push_back({MakePod("u2", {"10.0.0.2"}, "/run/netns/b"), {}});
  SyncOutcome out = reconciler_.Sync(std::move(items));
  EXPECT_THAT(out.removed_uids, ElementsAre("old"));
  ASSERT_EQ(out.states.size(), 2u);
  EXPECT_EQ(out.states[0].spec.uid, "u1");
  EXPECT_EQ(out.states[0].phase, agent::PodPhase::kApplied);
  EXPECT_EQ(out.states[1].spec.uid, "u2");
  EXPECT_EQ(out.states[1].phase, agent::PodPhase::kApplied);
  EXPECT_THAT(fake_.host_members(), UnorderedElementsAre(Ip("10.0.0.1"), Ip("10.0.0.2")));
  EXPECT_FALSE(fake_.pod_table("/run/netns/c").has_value());
  EXPECT_EQ(reconciler_.List().size(), 2u);
}

TEST_F(ReconcilerTest, SyncLetsPodsSwapAddresses) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  std::vector<SyncItem> items;
  items.push_back({MakePod("u1", {"10.0.0.2"}, "/run/netns/a"), {}});
  items.push_back({MakePod("u2", {"10.0.0.1"}, "/run/netns/b"), {}});
  SyncOutcome out = reconciler_.Sync(std::move(items));
  ASSERT_EQ(out.states.size(), 2u);
  EXPECT_EQ(out.states[0].phase, agent::PodPhase::kApplied);
  EXPECT_EQ(out.states[1].phase, agent::PodPhase::kApplied);
  EXPECT_THAT(fake_.host_members(), UnorderedElementsAre(Ip("10.0.0.1"), Ip("10.0.0.2")));
}

TEST_F(ReconcilerTest, SyncRemovesHostMembersLeftByAPreviousRun) {
  ASSERT_TRUE(reconciler_.EnsureHost().ok());
  fake_.AddHostMember(Ip("10.9.9.9"));  // enrolled before a restart, no longer wanted
  std::vector<SyncItem> items;
  items.push_back({MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}});
  reconciler_.Sync(std::move(items));
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));
}

TEST_F(ReconcilerTest, SyncReportsPerPodFailuresAndRefusals) {
  fake_.FailNext(Op::kApplyPod, absl::UnavailableError("boom"));
  std::vector<SyncItem> items;
  items.push_back({MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}});
  Admission refused;
  refused.refused = true;
  refused.refusal = "refused by policy";
  items.push_back({MakePod("u2", {"10.0.0.2"}, "/run/netns/b"), refused});
  items.push_back({MakePod("u3", {"10.0.0.3"}, "/run/netns/c"), {}});
  SyncOutcome out = reconciler_.Sync(std::move(items));
  ASSERT_EQ(out.states.size(), 3u);
  EXPECT_EQ(out.states[0].phase, agent::PodPhase::kFailed);
  EXPECT_THAT(out.states[0].reason, ::testing::HasSubstr("boom"));
  EXPECT_EQ(out.states[1].phase, agent::PodPhase::kFailed);
  EXPECT_EQ(out.states[1].reason, "refused by policy");
  EXPECT_EQ(out.states[2].phase, agent::PodPhase::kApplied);
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.3")));
  EXPECT_FALSE(reconciler_.Get("u2").ok());  // a refused pod is not enrolled
}

TEST_F(ReconcilerTest, DriftCheckRecreatesADeletedHostTableWithItsMembers) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1", "fd00::1"}, "/run/netns/a"), {}).ok());
  fake_.DeleteHostTable();
  ResyncReport report = reconciler_.Resync();
  EXPECT_GE(report.host_repairs, 1);
  EXPECT_TRUE(fake_.host_table_present());
  EXPECT_THAT(fake_.host_members(), UnorderedElementsAre(Ip("10.0.0.1"), Ip("fd00::1")));
}

TEST_F(ReconcilerTest, DriftCheckRepairsEditedHostRulesAndMissingMembers) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.EditHostRules();
  ResyncReport report = reconciler_.Resync();
  EXPECT_GE(report.host_repairs, 1);
  absl::StatusOr<netfilter::HostObservation> obs = fake_.ObserveHost({});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
  EXPECT_THAT(obs->members, ElementsAre(netfilter::HostMember{Ip("10.0.0.1"), "u1"}));
}

TEST_F(ReconcilerTest, DriftCheckReappliesADeletedOrEditedPodTable) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  fake_.DeletePodTable("/run/netns/a");
  fake_.EditPodTable("/run/netns/b");
  ResyncReport report = reconciler_.Resync();
  EXPECT_EQ(report.pod_repairs, 2);
  EXPECT_EQ(report.failures, 0);
  EXPECT_TRUE(fake_.pod_table("/run/netns/a").has_value());
  netfilter::PodRules v4_only;  // u2 is enrolled with its IPv4 address only
  v4_only.enrolled_v6 = false;
  absl::StatusOr<netfilter::PodObservation> b = fake_.ObservePod("/run/netns/b", v4_only);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->rules_match);
}

TEST_F(ReconcilerTest, DriftCheckWithNothingWrongChangesNothing) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  Events();
  int before = fake_.mutating_calls();
  ResyncReport report = reconciler_.Resync();
  EXPECT_EQ(report.host_repairs + report.pod_repairs + report.retries + report.failures, 0);
  EXPECT_EQ(fake_.mutating_calls(), before);
  EXPECT_THAT(Events(), IsEmpty());
}

TEST_F(ReconcilerTest, DriftCheckRetriesFailedPods) {
  fake_.FailNext(Op::kApplyPod, absl::UnavailableError("boom"));
  ASSERT_FALSE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  Events();
  ResyncReport report = reconciler_.Resync();
  EXPECT_EQ(report.retries, 1);
  EXPECT_EQ(reconciler_.Get("u1")->phase, agent::PodPhase::kApplied);
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));
  std::vector<agent::PodState> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].phase, agent::PodPhase::kApplied);
}

TEST_F(ReconcilerTest, DriftCheckWithdrawsAddressesOfAPodWhoseNamespaceVanished) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.DeleteNamespace("/run/netns/a");
  reconciler_.Resync();
  EXPECT_THAT(fake_.host_members(), IsEmpty());
  absl::StatusOr<agent::PodState> got = reconciler_.Get("u1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->phase, agent::PodPhase::kFailed);
  EXPECT_THAT(got->reason, ::testing::HasSubstr("no longer exists"));
}

TEST_F(ReconcilerTest, DriftCheckFinishesAnIncompleteUnenroll) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  fake_.FailNext(Op::kRemovePod, absl::UnavailableError("EBUSY"));
  ASSERT_FALSE(reconciler_.Unenroll("u1").ok());
  reconciler_.Resync();
  EXPECT_EQ(reconciler_.Get("u1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
}

TEST_F(ReconcilerTest, UnaccountedHostMembersAreKeptUntilTheFirstSync) {
  ASSERT_TRUE(reconciler_.EnsureHost().ok());
  fake_.AddHostMember(Ip("10.9.9.9"));  // re-adopted from a previous run
  reconciler_.Resync();
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.9.9.9")));
  reconciler_.Sync({});
  fake_.AddHostMember(Ip("10.8.8.8"));  // someone else's edit after the Sync
  reconciler_.Resync();
  EXPECT_THAT(fake_.host_members(), IsEmpty());
}

TEST_F(ReconcilerTest, FindingsAreReportedAndRefreshedOnIdenticalReEnroll) {
  agent::Finding f;
  f.severity = agent::Severity::kWarning;
  f.policy_name = "deny-all";
  absl::StatusOr<agent::PodState> st =
      reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {f});
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->findings.size(), 1u);
  EXPECT_EQ(st->findings[0].policy_name, "deny-all");
  st = reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {});
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->findings.empty());
}

TEST_F(ReconcilerTest, WatchWithInitialStateStartsWithEveryPod) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u2", {"10.0.0.2"}, "/run/netns/b"), {}).ok());
  std::shared_ptr<StatusSubscription> w = reconciler_.Watch(true);
  agent::PodState s;
  ASSERT_EQ(w->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent);
  EXPECT_EQ(s.spec.uid, "u1");
  ASSERT_EQ(w->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent);
  EXPECT_EQ(s.spec.uid, "u2");
  EXPECT_EQ(w->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kTimeout);
  reconciler_.Unwatch(w);
}

TEST_F(ReconcilerTest, RemoveAllDeletesEveryTable) {
  ASSERT_TRUE(reconciler_.Enroll(MakePod("u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  ASSERT_TRUE(reconciler_.RemoveAll().ok());
  EXPECT_FALSE(fake_.host_table_present());
  EXPECT_FALSE(fake_.pod_table("/run/netns/a").has_value());
  EXPECT_TRUE(reconciler_.List().empty());
}

TEST(ReconcilerConcurrencyTest, ConcurrentEnrollUnenrollAndDriftChecksConverge) {
  FakeBackend fake;
  StatusEventHub hub(1 << 20);
  Reconciler reconciler(fake, ReconcilerOptions{}, hub);
  std::shared_ptr<StatusSubscription> watch = reconciler.Watch(false);
  constexpr int kThreads = 8;
  constexpr int kPodsPerThread = 40;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPodsPerThread; ++i) {
      fake.AddNamespace(absl::StrCat("/run/netns/t", t, "-", i));
    }
  }
  std::atomic<bool> done{false};
  std::thread drift([&] {
    while (!done) {
      reconciler.Resync();
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kPodsPerThread; ++i) {
        std::string uid = absl::StrCat("t", t, "-", i);
        std::string ip = absl::StrCat("10.", t, ".", i / 200, ".", i % 200 + 1);
        DesiredPod pod = PodIn(fake, uid, {ip}, "/run/netns/" + uid);
        EXPECT_TRUE(reconciler.Enroll(pod, {}).ok()) << uid;
        if (i % 4 == 0) {  // every fourth pod leaves again
          EXPECT_TRUE(reconciler.Unenroll(uid).ok()) << uid;
        }
      }
    });
  }
  for (std::thread& w : workers) {
    w.join();
  }
  done = true;
  drift.join();
  const size_t expected = kThreads * kPodsPerThread * 3 / 4;
  std::vector<agent::PodState> pods = reconciler.List();
  EXPECT_EQ(pods.size(), expected);
  for (const agent::PodState& s : pods) {
    EXPECT_EQ(s.phase, agent::PodPhase::kApplied) << s.spec.uid;
  }
  EXPECT_EQ(fake.host_members().size(), expected);
  // Every enroll and every removal was published, in an order consistent per pod.
  std::map<std::string, std::vector<agent::PodPhase>> seen;
  agent::PodState s;
  while (watch->Pop(absl::ZeroDuration(), &s) == StatusSubscription::Next::kEvent) {
    seen[s.spec.uid].push_back(s.phase);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPodsPerThread));
  for (const auto& [uid, phases] : seen) {
    ASSERT_FALSE(phases.empty());
    EXPECT_EQ(phases.front(), agent::PodPhase::kApplied) << uid;
  }
  EXPECT_EQ(seen["t0-0"].back(), agent::PodPhase::kRemoved);
  EXPECT_EQ(seen["t0-1"].back(), agent::PodPhase::kApplied);
}

// Holds ApplyPod for one namespace path until released, as a slow kernel or a namespace under
// load would.
class StallingBackend : public FakeBackend {
 public:
  explicit StallingBackend(std::string stalled_path) : stalled_path_(std::move(stalled_path)) {}
  using FakeBackend::ApplyPod;
  absl::Status ApplyPod(const netfilter::NetnsHandle& netns, const netfilter::PodRules& rules,
                        const netfilter::TableOwner& owner) override {
    if (netns.path == stalled_path_) {
      std::unique_lock<std::mutex> lock(mu_);
      stalled_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_; });
    }
    return FakeBackend::ApplyPod(netns, rules, owner);
  }
  bool WaitUntilStalled(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return stalled_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  const std::string stalled_path_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stalled_ = false;
  bool released_ = false;
};

TEST(ReconcilerLockingTest, ReadsAndOtherPodsDoNotWaitForAPodInTheKernel) {
  StallingBackend fake("/run/netns/b");
  for (const char* ns : {"/run/netns/a", "/run/netns/b", "/run/netns/c", "/run/netns/d"}) {
    fake.AddNamespace(ns);
  }
  StatusEventHub hub;
  Reconciler reconciler(fake, ReconcilerOptions{}, hub);
  ASSERT_TRUE(reconciler.Enroll(PodIn(fake, "u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  std::future<absl::StatusOr<agent::PodState>> stalled = std::async(std::launch::async, [&] {
    return reconciler.Enroll(PodIn(fake, "u2", {"10.0.0.2"}, "/run/netns/b"), {});
  });
  ASSERT_TRUE(fake.WaitUntilStalled(absl::Seconds(10)));
  std::future<std::vector<agent::PodState>> list =
      std::async(std::launch::async, [&] { return reconciler.List(); });
  // Answered before the other Enrolls start, so that it lists exactly what was applied so far.
  const bool list_answered = list.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  std::future<absl::StatusOr<agent::PodState>> other = std::async(std::launch::async, [&] {
    return reconciler.Enroll(PodIn(fake, "u3", {"10.0.0.3"}, "/run/netns/c"), {});
  });
  std::future<absl::StatusOr<agent::PodState>> conflicting = std::async(std::launch::async, [&] {
    return reconciler.Enroll(PodIn(fake, "u4", {"10.0.0.2"}, "/run/netns/d"), {});
  });
  const bool other_answered = other.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  const bool conflict_answered =
      conflicting.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  fake.Release();  // before any assertion can return: the futures must all finish
  EXPECT_TRUE(list_answered) << "List waited for another pod's kernel transaction";
  EXPECT_TRUE(other_answered) << "Enroll of another pod waited for one in the kernel";
  EXPECT_TRUE(conflict_answered) << "a conflicting Enroll waited instead of being refused";
  std::vector<agent::PodState> listed = list.get();
  ASSERT_EQ(listed.size(), 1u);  // u2 is not published before its rules are in the kernel
  EXPECT_EQ(listed[0].spec.uid, "u1");
  absl::StatusOr<agent::PodState> u3 = other.get();
  ASSERT_TRUE(u3.ok()) << u3.status();
  EXPECT_EQ(u3->phase, agent::PodPhase::kApplied);
  // u2's address is claimed from the moment its Enroll began, though not yet applied.
  EXPECT_EQ(conflicting.get().status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<agent::PodState> u2 = stalled.get();
  ASSERT_TRUE(u2.ok()) << u2.status();
  EXPECT_EQ(u2->phase, agent::PodPhase::kApplied);
  EXPECT_THAT(fake.host_members(),
              UnorderedElementsAre(Ip("10.0.0.1"), Ip("10.0.0.2"), Ip("10.0.0.3")));
}

TEST(ReconcilerOptionsTest, ReadBackCanBeTurnedOff) {
  FakeBackend fake;
  fake.AddNamespace("/run/netns/a");
  StatusEventHub hub;
  ReconcilerOptions options;  // read-back is off by default
  options.pod_rules.tunnel_port = 16008;
  Reconciler r(fake, options, hub);
  ASSERT_TRUE(r.Enroll(PodIn(fake, "u1", {"10.0.0.1"}, "/run/netns/a"), {}).ok());
  EXPECT_EQ(fake.calls(Op::kObservePod), 0);
  EXPECT_EQ(fake.pod_table("/run/netns/a")->tunnel_port, 16008);
}

}  // namespace
}  // namespace probesnat::daemon
