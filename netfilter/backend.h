#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netfilter/ip_address.h"
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
  bool namespace_exists = false;
  bool table_present = false;
  bool rules_match = false;  // chains and rules equal what PodRules asks for
};

// The only way the agent touches netfilter. Each mutating call is one atomic kernel transaction in
// one namespace. Tables that are not ours are never modified. Errors name the object and the
// namespace.
//   NOT_FOUND         the network namespace path does not exist (RemovePod treats that as success)
//   INVALID_ARGUMENT  the path is not a network namespace
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

  // Pod namespace at netns_path. ApplyPod atomically replaces our table with the one PodRules
  // describe.
  virtual absl::Status ApplyPod(const std::string& netns_path, const PodRules& rules) = 0;
  // Deletes our table in the pod namespace; a missing namespace or table is success.
  virtual absl::Status RemovePod(const std::string& netns_path) = 0;
  virtual absl::StatusOr<PodObservation> ObservePod(const std::string& netns_path,
                                                    const PodRules& rules) = 0;
};

}  // namespace probesnat::netfilter
