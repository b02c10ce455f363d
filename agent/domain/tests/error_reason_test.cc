#include "agent/domain/error_reason.h"

#include "gtest/gtest.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::agent {
namespace {

TEST(ErrorReason, NamesAreTheApiEnumerators) {
  EXPECT_EQ(ErrorReasonName(ErrorReason::kPolicyRefused),
            v1::ErrorReason_Name(v1::ERROR_REASON_POLICY_REFUSED));
  EXPECT_EQ(ErrorReasonName(ErrorReason::kNetnsConflict),
            v1::ErrorReason_Name(v1::ERROR_REASON_NETNS_CONFLICT));
  EXPECT_EQ(ErrorReasonName(ErrorReason::kIpConflict),
            v1::ErrorReason_Name(v1::ERROR_REASON_IP_CONFLICT));
  for (ErrorReason r :
       {ErrorReason::kPolicyRefused, ErrorReason::kNetnsConflict, ErrorReason::kIpConflict}) {
    EXPECT_EQ(ErrorReasonFromName(ErrorReasonName(r)), r);
  }
  EXPECT_EQ(ErrorReasonFromName("ERROR_REASON_UNSPECIFIED"), std::nullopt);
  EXPECT_EQ(ErrorReasonFromName("policy"), std::nullopt);
}

TEST(ErrorReason, RidesAlongWithTheStatus) {
  absl::Status st = WithErrorReason(absl::FailedPreconditionError("IP 10.0.0.1 is taken"),
                                    ErrorReason::kIpConflict);
  absl::Status copy = st;
  EXPECT_EQ(ErrorReasonOf(copy), ErrorReason::kIpConflict);
  EXPECT_EQ(copy.message(), "IP 10.0.0.1 is taken");
  EXPECT_EQ(ErrorReasonOf(absl::FailedPreconditionError("x")), std::nullopt);
  // An OK status carries no reason.
  EXPECT_EQ(ErrorReasonOf(WithErrorReason(absl::OkStatus(), ErrorReason::kIpConflict)),
            std::nullopt);
}

}  // namespace
}  // namespace probesnat::agent
