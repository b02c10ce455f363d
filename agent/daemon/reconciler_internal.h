#pragma once

#include "agent/daemon/log_record.h"

// Helpers shared by the reconciler's source files; not part of its interface.
#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/domain/pod_spec.h"
#include "base/ip_address.h"

namespace probesnat::daemon::reconciler_internal {

// The elements of `a` not in `b`, in a's order.
inline std::vector<IpAddress> Minus(const std::vector<IpAddress>& a, const std::set<IpAddress>& b) {
  std::vector<IpAddress> out;
  std::copy_if(a.begin(), a.end(), std::back_inserter(out),
               [&](const IpAddress& ip) { return b.count(ip) == 0; });
  return out;
}

// "10.0.0.1,fd00::1", or "none".
inline std::string JoinIps(const std::vector<IpAddress>& ips) {
  if (ips.empty()) {
    return "none";
  }
  return absl::StrJoin(
      ips, ",", [](std::string* out, const IpAddress& ip) { absl::StrAppend(out, ip.ToString()); });
}

// "ns/name (uid U)" for messages.
inline std::string PodName(const agent::PodSpec& pod) { return pod.DisplayName(); }

// A log record about `pod`, with its uid, ns/name and network namespace (log_record.h).
inline LogRecord PodRecord(std::string msg, const agent::PodSpec& pod) {
  LogRecord record(std::move(msg));
  record.Uid(pod.uid).Pod(pod.Key()).Netns(pod.netns_path);
  return record;
}

}  // namespace probesnat::daemon::reconciler_internal
