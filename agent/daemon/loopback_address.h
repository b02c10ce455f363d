#pragma once

#include <string>

#include "absl/status/status.h"

namespace probesnat::daemon {

// A TCP address the API may listen on: "127.0.0.1:50071" or "[::1]:50071". The host must be a
// loopback address (127.0.0.0/8 or ::1): the API has no authentication. INVALID_ARGUMENT says why
// not.
absl::Status ValidateLoopbackListenAddress(const std::string& address);

}  // namespace probesnat::daemon
