#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace probesnat::agent {

// Why the agent refused a request with FAILED_PRECONDITION, for clients that act differently on
// each (probesnat.v1.ErrorReason; the names are that enum's).
enum class ErrorReason {
  kPolicyRefused,  // the NetworkPolicy check refused the pod
  kNetnsConflict,  // another enrolled pod holds the network namespace
  kIpConflict,     // another enrolled pod holds one of the IPs
};

// The reason rides along with the status as a payload, so that it survives copies and returns
// through the layers that do not know it; the gRPC edges turn it into trailing metadata and back.
absl::Status WithErrorReason(absl::Status status, ErrorReason reason);
std::optional<ErrorReason> ErrorReasonOf(const absl::Status& status);

// "ERROR_REASON_POLICY_REFUSED", ...: the probesnat.v1.ErrorReason name, as sent on the wire.
absl::string_view ErrorReasonName(ErrorReason reason);
std::optional<ErrorReason> ErrorReasonFromName(absl::string_view name);

// The trailing metadata key that carries the name.
inline constexpr char kErrorReasonMetadataKey[] = "probesnat-error-reason";

}  // namespace probesnat::agent
