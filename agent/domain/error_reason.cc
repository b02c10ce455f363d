#include "agent/domain/error_reason.h"

#include <array>
#include <utility>

namespace probesnat::agent {
namespace {

constexpr char kPayloadUrl[] = "type.probesnat.io/error-reason";

constexpr std::array<std::pair<ErrorReason, absl::string_view>, 3> kNames = {{
    {ErrorReason::kPolicyRefused, "ERROR_REASON_POLICY_REFUSED"},
    {ErrorReason::kNetnsConflict, "ERROR_REASON_NETNS_CONFLICT"},
    {ErrorReason::kIpConflict, "ERROR_REASON_IP_CONFLICT"},
}};

}  // namespace

absl::Status WithErrorReason(absl::Status status, ErrorReason reason) {
  if (!status.ok()) {
    status.SetPayload(kPayloadUrl, absl::Cord(ErrorReasonName(reason)));
  }
  return status;
}

std::optional<ErrorReason> ErrorReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) {
    return std::nullopt;
  }
  return ErrorReasonFromName(std::string(*payload));
}

absl::string_view ErrorReasonName(ErrorReason reason) {
  for (const auto& [value, name] : kNames) {
    if (value == reason) {
      return name;
    }
  }
  return "ERROR_REASON_UNSPECIFIED";
}

std::optional<ErrorReason> ErrorReasonFromName(absl::string_view name) {
  for (const auto& [value, known] : kNames) {
    if (known == name) {
      return value;
    }
  }
  return std::nullopt;
}

}  // namespace probesnat::agent
