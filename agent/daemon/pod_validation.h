#pragma once

#include <functional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/daemon/desired_pod.h"
#include "netfilter/interface_addresses.h"
#include "netfilter/netns.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::daemon {

// Opens the network namespace a pod would be enrolled in, at `path` beneath the allowed root `root`
// (netfilter::OpenNetnsBeneath: no symlink below the root is followed): NOT_FOUND when nothing is at `path`,
// INVALID_ARGUMENT when it is something else or a namespace no pod may have (the daemon passes its
// backend's OpenPodNetns, which refuses the host namespace), other codes when the agent cannot
// open it (netfilter/netns.h: FAILED_PRECONDITION for a missing privilege, UNAVAILABLE for a
// transient error).
using NetnsOpener = std::function<absl::StatusOr<netfilter::NetnsHandle>(const std::string& root,
                                                                         const std::string& path)>;
// The node's own addresses, which no pod may be enrolled with.
using NodeAddressLister = std::function<absl::StatusOr<std::vector<netfilter::InterfaceAddress>>()>;

// How much one request may carry. Kubernetes bounds the lengths of names and labels (and they are
// checked with its rules); these bound the counts it leaves open.
struct ValidationLimits {
  size_t max_labels = 128;
  size_t max_container_ports = 256;
  size_t max_probe_ports = 128;
  size_t max_sync_pods = 1024;
};

struct ValidationOptions {
  // Network namespace paths must lie under one of these. "/proc" admits only /proc/<pid>/ns/net and
  // /proc/<pid>/task/<tid>/ns/net.
  std::vector<std::string> allowed_netns_roots = {"/run/netns", "/var/run/netns", "/proc"};
  NetnsOpener open_netns = netfilter::OpenNetnsHandleBeneath;
  // The probe SNAT addresses: a pod using one would have its real peers pass as kubelet probes.
  std::vector<IpAddress> probe_addresses;
  // The node's own addresses, which no pod may claim (its traffic would be captured and SNATed).
  // Asked on every validation: addresses change at run time.
  NodeAddressLister node_addresses = netfilter::ListOwnAddresses;
  ValidationLimits limits;
};

// Every check returns INVALID_ARGUMENT with a message that starts with the field it concerns, e.g.
// "pod.ips[1]: ...". `field` is the name of the field being checked. Exception: a netns path the
// agent cannot open for its own reasons keeps the opener's code (FAILED_PRECONDITION when it lacks
// a privilege, UNAVAILABLE/RESOURCE_EXHAUSTED when transient), with the field first.
absl::Status ValidateUid(absl::string_view field, const std::string& uid);
absl::Status ValidateDns1123Label(absl::string_view field, const std::string& value);
absl::Status ValidateDns1123Subdomain(absl::string_view field, const std::string& value);
// The addresses, parsed and sorted.
absl::StatusOr<std::vector<IpAddress>> ValidatePodIps(
    absl::string_view field, const google::protobuf::RepeatedPtrField<std::string>& ips,
    const std::vector<IpAddress>& probe_addresses = {},
    const NodeAddressLister& node_addresses = nullptr);
// The namespace, opened (the only time the path is resolved for an enrollment).
absl::StatusOr<netfilter::NetnsHandle> ValidateNetnsPath(absl::string_view field,
                                                         const std::string& path,
                                                         const ValidationOptions& options);
absl::Status ValidatePort(absl::string_view field, uint32_t port);
// Kubernetes label syntax: key [prefix/]name (prefix a DNS-1123 subdomain, name at most 63 of
// [A-Za-z0-9-_.] starting and ending alphanumeric), value empty or like the name.
absl::Status ValidateLabels(absl::string_view field,
                            const google::protobuf::Map<std::string, std::string>& labels,
                            size_t max_labels);
// A Sync request carries at most limits.max_sync_pods pods.
absl::Status ValidateSyncSize(int pods, const ValidationLimits& limits);

// Validates a whole pod; `field` is how the request names it ("pod", "pods[3]"). Returns its spec
// (addresses parsed, sorted) with its network namespace opened.
absl::StatusOr<DesiredPod> ValidatePod(absl::string_view field, const v1::Pod& pod,
                                       const ValidationOptions& options);

// Validates that the pods of one Sync request do not share a uid, an IP or a network namespace.
absl::Status ValidateDistinctPods(const std::vector<DesiredPod>& pods);

}  // namespace probesnat::daemon
