#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace probesnat::cni {

// Error codes of the CNI specification (1.1.0, "Error"), and probesnat's own (100 and above).
enum class CniCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,  // STATUS: the plugin cannot serve ADDs now
  // probesnat-specific.
  kAgentUnreachable = 100,     // no answer from probesnatd within the deadline
  kPolicyRefused = 101,        // probesnatd's NetworkPolicy check refused the pod (enforce)
  kAgentRejected = 102,        // probesnatd refused the request as invalid
  kAgentFailed = 103,          // probesnatd could not apply the rules
  kCheckMismatch = 104,        // CHECK: what the agent or the kernel holds differs
  kEnrollConflict = 105,       // another enrolled pod holds the pod's network namespace or an IP
  kAgentPrecondition = 106,    // probesnatd refused the pod for another precondition
};

// A CNI error as the plugin prints it: {"cniVersion", "code", "msg", "details"}.
struct CniError {
  CniCode code = CniCode::kInvalidConfig;
  std::string msg;
  std::string details;
};

// Errors travel as absl::Status inside the plugin; the CNI code and the details ride along as
// payloads, so that any function can produce the exact error the plugin will print.
absl::Status CniStatus(CniCode code, absl::string_view msg, absl::string_view details = "");

// The CNI error a status stands for; a status made elsewhere (no payload) maps by its code
// (INVALID_ARGUMENT -> invalid config, anything else -> I/O failure).
CniError ToCniError(const absl::Status& status);

// The JSON document the specification asks for on stdout, one line.
std::string ErrorJson(absl::string_view cni_version, const CniError& error);

}  // namespace probesnat::cni
