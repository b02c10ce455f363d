#pragma once

#include <string>

#include "absl/status/status.h"

namespace probesnat::daemon {

// A TCP address the API may listen on: "127.0.0.1:50071" or "[::1]:50071". The host must be a
// loopback address (127.0.0.0/8 or ::1): the API has no authentication. INVALID_ARGUMENT says why
// not.
absl::Status ValidateLoopbackListenAddress(const std::string& address);

// An address the metrics endpoint may listen on: a loopback address, or one address of the node
// ("10.0.0.5:9464", "[fd00::5]:9464"; in a DaemonSet the downward API's status.hostIP) so that
// Prometheus in the cluster can scrape it; /metrics, /healthz and /readyz only read. Never the
// unspecified address (every interface) nor multicast/broadcast: INVALID_ARGUMENT says why.
absl::Status ValidateMetricsListenAddress(const std::string& address);

}  // namespace probesnat::daemon
