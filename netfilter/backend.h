#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/ip_address.h"
#include "netfilter/netns.h"
#include "netfilter/rules_spec.h"

namespace probesnat::netfilter {

// What the kernel holds of our host table, read back over netlink.
struct HostObservation {
  bool table_present = false;
  bool rules_match = false;        // chains and rules equal what HostRules asks for
  std::vector<IpAddress> members;  // elements of the enrolled-pod sets, both families, sorted
};

// What the kernel holds of our table in one pod namespace.
struct PodObservation {
  bool namespace_exists = false;  // always true when observed through a handle
  bool table_present = false;
  bool rules_match = false;  // chains and rules equal what PodRules asks for
};

// The only way the agent touches netfilter. Each mutating call is one atomic kernel transaction in
// one namespace. Tables that are not ours are never modified. Errors name the object and the
// namespace.
//   NOT_FOUND         the network namespace path does not exist (RemovePod treats that as success)
//   INVALID_ARGUMENT  the path is not a network namespace, or is the host's
//   UNAVAILABLE       the kernel refused the transaction
class Backend {
 public:
  virtual ~Backend() = default;

  // Host namespace = the namespace the agent runs in.
  // Creates our table, sets and rules if missing or different; keeps the set elements.
  virtual absl::Status EnsureHost(const HostRules& rules) = 0;
  // Adds and removes enrolled pod addresses in one transaction (adding a present one, or removing
  // an absent one, is not an error).
  virtual absl::Status UpdateHostMembers(const std::vector<IpAddress>& add,
                                         const std::vector<IpAddress>& remove) = 0;
  virtual absl::StatusOr<HostObservation> ObserveHost(const HostRules& rules) = 0;
  // Deletes our host table (agent shutdown with cleanup); absent is fine.
  virtual absl::Status RemoveHost() = 0;

  // Pod namespaces are reached through a handle opened once (OpenPodNetns), so that what the path
  // names later (a pid reused, a bind mount replaced) cannot redirect a write to another
  // namespace. Opening never blocks and refuses the host namespace (INVALID_ARGUMENT): our pod
  // table and our host table have the same name.
  virtual absl::StatusOr<NetnsHandle> OpenPodNetns(const std::string& netns_path) = 0;
  // Atomically replaces our table with the one PodRules describe.
  virtual absl::Status ApplyPod(const NetnsHandle& netns, const PodRules& rules) = 0;
  // Deletes our table in the pod namespace; an absent table is success.
  virtual absl::Status RemovePod(const NetnsHandle& netns) = 0;
  virtual absl::StatusOr<PodObservation> ObservePod(const NetnsHandle& netns,
                                                    const PodRules& rules) = 0;

  // By path (tools and tests): OpenPodNetns, then the call above. A missing namespace is success
  // for RemovePod and namespace_exists = false for ObservePod.
  absl::Status ApplyPod(const std::string& netns_path, const PodRules& rules) {
    absl::StatusOr<NetnsHandle> netns = OpenPodNetns(netns_path);
    return netns.ok() ? ApplyPod(*netns, rules) : netns.status();
  }
  absl::Status RemovePod(const std::string& netns_path) {
    absl::StatusOr<NetnsHandle> netns = OpenPodNetns(netns_path);
    if (absl::IsNotFound(netns.status())) {
      return absl::OkStatus();
    }
    return netns.ok() ? RemovePod(*netns) : netns.status();
  }
  absl::StatusOr<PodObservation> ObservePod(const std::string& netns_path, const PodRules& rules) {
    absl::StatusOr<NetnsHandle> netns = OpenPodNetns(netns_path);
    if (absl::IsNotFound(netns.status())) {
      return PodObservation{};
    }
    if (!netns.ok()) {
      return netns.status();
    }
    return ObservePod(*netns, rules);
  }
};

}  // namespace probesnat::netfilter
