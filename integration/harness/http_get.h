#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "integration/harness/sockets.h"

namespace probesnat::integration {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// One HTTP/1.0 GET of `target` (path and query) from inside namespace `netns_fd`, read until the
// server closes; bounded by `timeout` and 64 MiB.
absl::StatusOr<HttpReply> HttpGet(int netns_fd, const Endpoint& to, const std::string& target,
                                  absl::Duration timeout = absl::Seconds(5));

// %XX-encodes everything but unreserved characters (for query strings).
std::string UrlEncode(const std::string& text);

}  // namespace probesnat::integration
