#pragma once

#include <functional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/daemon/desired_pod.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::daemon {

// Checks that `path` names a network namespace a pod may be enrolled in. Returns NOT_FOUND when
// nothing is there and INVALID_ARGUMENT when it is something else.
using NetnsChecker = std::function<absl::Status(const std::string& path)>;
// Opens it with netfilter::OpenNetns: it must be a network namespace.
absl::Status CheckIsNetns(const std::string& path);
// CheckIsNetns, and it must not be the agent's own (host) namespace: a hostNetwork pod.
absl::Status CheckNetnsWithKernel(const std::string& path);

struct ValidationOptions {
  // Network namespace paths must lie under one of these. "/proc" admits only /proc/<pid>/ns/net and
  // /proc/<pid>/task/<tid>/ns/net.
  std::vector<std::string> allowed_netns_roots = {"/run/netns", "/var/run/netns", "/proc"};
  NetnsChecker check_netns = CheckNetnsWithKernel;
  // The probe SNAT addresses: a pod using one would have its real peers pass as kubelet probes.
  std::vector<netfilter::IpAddress> probe_addresses;
};

// Every check returns INVALID_ARGUMENT with a message that starts with the field it concerns, e.g.
// "pod.ips[1]: ...". `field` is the name of the field being checked.
absl::Status ValidateUid(absl::string_view field, const std::string& uid);
absl::Status ValidateDns1123Label(absl::string_view field, const std::string& value);
absl::Status ValidateDns1123Subdomain(absl::string_view field, const std::string& value);
absl::StatusOr<std::vector<netfilter::IpAddress>> ValidatePodIps(
    absl::string_view field, const google::protobuf::RepeatedPtrField<std::string>& ips,
    const std::vector<netfilter::IpAddress>& probe_addresses = {});
absl::Status ValidateNetnsPath(absl::string_view field, const std::string& path,
                               const ValidationOptions& options);
absl::Status ValidatePort(absl::string_view field, uint32_t port);

// Validates a whole pod; `field` is how the request names it ("pod", "pods[3]").
absl::StatusOr<DesiredPod> ValidatePod(absl::string_view field, const v1::Pod& pod,
                                       const ValidationOptions& options);

// Validates that the pods of one Sync request do not share a uid, an IP or a network namespace.
absl::Status ValidateDistinctPods(const std::vector<DesiredPod>& pods);

}  // namespace probesnat::daemon
