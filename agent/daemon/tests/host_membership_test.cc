#include "agent/daemon/host_membership.h"

#include "agent/daemon/testing/fake_backend.h"
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

class HostMembershipTest : public ::testing::Test {
 protected:
  HostMembershipTest() : host_(fake_, netfilter::HostRules{}) {
    EXPECT_TRUE(host_.EnsureHost().ok());
  }
  FakeBackend fake_;
  HostMembership host_;
};

TEST_F(HostMembershipTest, AnAddressStaysWhileAnyOwnerHoldsIt) {
  ASSERT_TRUE(host_.Hold("a", {Ip("10.0.0.1")}).ok());
  const int after_first = fake_.calls(Op::kUpdateHostMembers);
  ASSERT_TRUE(host_.Hold("b", {Ip("10.0.0.1")}).ok());
  EXPECT_EQ(fake_.calls(Op::kUpdateHostMembers), after_first);  // already in the kernel
  ASSERT_TRUE(host_.Release("a").ok());
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));  // b still holds it
  EXPECT_THAT(host_.HeldOnlyBy("b"), ElementsAre(Ip("10.0.0.1")));
  ASSERT_TRUE(host_.Release("b").ok());
  EXPECT_THAT(fake_.host_members(), IsEmpty());
}

TEST_F(HostMembershipTest, KeepRemovesOnlyWhatTheOwnerGaveUp) {
  ASSERT_TRUE(host_.Hold("a", {Ip("10.0.0.1"), Ip("fd00::1")}).ok());
  ASSERT_TRUE(host_.Hold("a", {Ip("10.0.0.2")}).ok());
  EXPECT_THAT(host_.Held("a"), ElementsAre(Ip("10.0.0.1"), Ip("10.0.0.2"), Ip("fd00::1")));
  ASSERT_TRUE(host_.Keep("a", {Ip("10.0.0.2")}).ok());
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.2")));
  EXPECT_THAT(host_.Held("a"), ElementsAre(Ip("10.0.0.2")));
}

TEST_F(HostMembershipTest, AFailedAdditionChangesNothing) {
  fake_.FailNext(Op::kUpdateHostMembers, absl::UnavailableError("ENOBUFS"));
  absl::Status st = host_.Hold("a", {Ip("10.0.0.1")});
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("ENOBUFS"));
  EXPECT_THAT(host_.Held("a"), IsEmpty());
  EXPECT_THAT(fake_.host_members(), IsEmpty());
}

TEST_F(HostMembershipTest, AFailedRemovalKeepsTheOwnerHoldingEverything) {
  ASSERT_TRUE(host_.Hold("a", {Ip("10.0.0.1"), Ip("10.0.0.2")}).ok());
  fake_.FailNext(Op::kUpdateHostMembers, absl::UnavailableError("EPERM"));
  EXPECT_FALSE(host_.Keep("a", {Ip("10.0.0.2")}).ok());
  EXPECT_THAT(host_.Held("a"), ElementsAre(Ip("10.0.0.1"), Ip("10.0.0.2")));
  ASSERT_TRUE(host_.Keep("a", {Ip("10.0.0.2")}).ok());
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.2")));
}

TEST_F(HostMembershipTest, AdditionRepairsADeletedTableWithEveryHolder) {
  ASSERT_TRUE(host_.Hold("a", {Ip("10.0.0.1")}).ok());
  fake_.DeleteHostTable();
  ASSERT_TRUE(host_.Hold("b", {Ip("10.0.0.2")}).ok());
  EXPECT_TRUE(fake_.host_table_present());
  EXPECT_THAT(fake_.host_members(), UnorderedElementsAre(Ip("10.0.0.1"), Ip("10.0.0.2")));
}

TEST_F(HostMembershipTest, RepairReaddsMissingMembersOfCheckedOwnersOnly) {
  ASSERT_TRUE(host_.Hold("a", {Ip("10.0.0.1")}).ok());
  ASSERT_TRUE(host_.Hold("b", {Ip("10.0.0.2")}).ok());
  ASSERT_TRUE(fake_.UpdateHostMembers({}, {Ip("10.0.0.1"), Ip("10.0.0.2")}).ok());
  HostRepair repair = host_.Repair({"a"}, nullptr);
  EXPECT_EQ(repair.repairs, 1);
  EXPECT_EQ(repair.failures, 0);
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1")));
}

TEST_F(HostMembershipTest, UnheldMembersGoUnlessAccountedFor) {
  ASSERT_TRUE(host_.Hold("a", {Ip("10.0.0.1")}).ok());
  fake_.AddHostMember(Ip("10.9.9.9"));  // left by a previous run
  fake_.AddHostMember(Ip("10.8.8.8"));  // wanted by a pod that holds nothing yet
  absl::StatusOr<std::vector<IpAddress>> removed = host_.RemoveUnheld({Ip("10.8.8.8")});
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, ElementsAre(Ip("10.9.9.9")));
  EXPECT_THAT(fake_.host_members(), ElementsAre(Ip("10.0.0.1"), Ip("10.8.8.8")));
  // Without accounting, Repair leaves members nobody holds alone.
  fake_.AddHostMember(Ip("10.7.7.7"));
  EXPECT_EQ(host_.Repair({"a"}, nullptr).repairs, 0);
  EXPECT_EQ(fake_.host_members().count(Ip("10.7.7.7")), 1u);
}

}  // namespace
}  // namespace probesnat::daemon
