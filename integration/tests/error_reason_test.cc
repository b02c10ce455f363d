// The reason of a FAILED_PRECONDITION (probesnat.v1.ErrorReason) as a client sees it: the real
// probesnatd, the client library probesnat-cni uses (agent/client), over the agent's socket.
#include "agent/domain/error_reason.h"
#include "absl/time/clock.h"
#include "agent/client/agent_connection.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

constexpr char kUidC[] = "9d2f3e4a-5b6c-4d7e-8f90-a1b2c3d4e5f6";

class ErrorReasonTest : public AgentTest {
 protected:
  absl::Status ClientEnroll(const v1::Pod& pod) {
    client::AgentConnection connection(daemon_->socket_path(), absl::Now() + absl::Seconds(5));
    return connection.Enroll(pod, v1::POLICY_MODE_UNSPECIFIED).status();
  }
};

TEST_F(ErrorReasonTest, APolicyRefusalSaysSo) {
  // Enforce mode without a policy snapshot refuses every Enroll (fail closed).
  StartDaemon({"--policy-mode", "enforce"});
  absl::Status st = ClientEnroll(PodA());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(agent::ErrorReasonOf(st), agent::ErrorReason::kPolicyRefused) << st;
}

TEST_F(ErrorReasonTest, ANamespaceConflictSaysSo) {
  MustEnroll(PodA());
  absl::Status st = ClientEnroll(MakePod(kUidC, {"10.244.1.99"}, a().path(), "pod-c"));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(agent::ErrorReasonOf(st), agent::ErrorReason::kNetnsConflict) << st;
}

TEST_F(ErrorReasonTest, AnIpConflictSaysSo) {
  MustEnroll(PodA());
  // Pod A's address from pod B's namespace: A's namespace is alive, so A is not stale.
  absl::Status st = ClientEnroll(MakePod(kUidC, {a().v4}, b().path(), "pod-c"));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(agent::ErrorReasonOf(st), agent::ErrorReason::kIpConflict) << st;
}

TEST_F(ErrorReasonTest, OtherErrorsCarryNoReason) {
  v1::Pod invalid = PodA();
  invalid.set_uid("not a uid!");
  absl::Status st = ClientEnroll(invalid);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_EQ(agent::ErrorReasonOf(st), std::nullopt) << st;
  EXPECT_TRUE(ClientEnroll(PodA()).ok());
}

}  // namespace
}  // namespace probesnat::integration
