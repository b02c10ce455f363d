#include "agent/daemon/loopback_address.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/ip_address.h"
#include "base/port.h"

namespace probesnat::daemon {
namespace {

bool IsPortText(const std::string& text) {
  uint32_t port = 0;
  return !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(text, &port) && IsPort(port);
}

// The host and port of "a.b.c.d:port" or "[v6]:port", both checked.
absl::StatusOr<IpAddress> ParseListenAddress(const std::string& address) {
  std::string host, port;
  if (absl::StartsWith(address, "[")) {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError("expected [IPv6]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError("expected host:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return absl::InvalidArgumentError("write IPv6 addresses as [addr]:port");
    }
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(host);
  if (!ip.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", host, "\" is not an IP address"));
  }
  if (!IsPortText(port)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", port, "\" is not a port number 1-65535"));
  }
  return ip;
}

}  // namespace

absl::Status ValidateLoopbackListenAddress(const std::string& address) {
  absl::StatusOr<IpAddress> ip = ParseListenAddress(address);
  if (!ip.ok()) {
    return ip.status();
  }
  if (!ip->is_loopback()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ip->ToString(),
        " is not a loopback address; the API is unauthenticated, so TCP is served only on "
        "127.0.0.0/8 or ::1"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMetricsListenAddress(const std::string& address) {
  absl::StatusOr<IpAddress> ip = ParseListenAddress(address);
  if (!ip.ok()) {
    return ip.status();
  }
  const std::string text = ip->ToString();
  if (ip->is_unspecified()) {
    return absl::InvalidArgumentError(
        absl::StrCat(text,
                     " would serve metrics on every interface; name one address: loopback, or the "
                     "node's own (in a DaemonSet, status.hostIP)"));
  }
  if (ip->is_multicast() || ip->is_broadcast()) {
    return absl::InvalidArgumentError(absl::StrCat(text, " is not a unicast address"));
  }
  return absl::OkStatus();
}

}  // namespace probesnat::daemon
