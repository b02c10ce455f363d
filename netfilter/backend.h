#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/ip_address.h"
#include "netfilter/netns.h"
#include "netfilter/rules_spec.h"

namespace probesnat::netfilter {

// An address in the host's enrolled-pod sets and the pod it belongs to, kept in the kernel as the
// element's comment (`nft list table inet probesnat` shows it), so that what the kernel holds says
// whom it belongs to after the agent restarts.
struct HostMember {
  IpAddress ip;
  std::string owner;  // pod uid; empty for an element without a comment (older agent, or manual)

  auto operator<=>(const HostMember&) const = default;
};

// Whom a pod table belongs to, kept in the kernel as the table's comment.
struct TableOwner {
  std::string uid;
  uint64_t generation = 0;

  bool operator==(const TableOwner&) const = default;
};

// What the kernel holds of our host table, read back over netlink.
struct HostObservation {
  bool table_present = false;
  bool rules_match = false;         // chains and rules equal what HostRules asks for
  std::vector<HostMember> members;  // elements of the enrolled-pod sets, both families, by ip
};

// What the kernel holds of our table in one pod namespace.
struct PodObservation {
  bool namespace_exists = false;  // always true when observed through a handle
  bool table_present = false;
  bool rules_match = false;           // chains and rules equal what PodRules asks for
  std::optional<TableOwner> owner;    // when the table carries an owner comment we wrote
  uint64_t table_handle = 0;          // the kernel's handle: a new one each time it is replaced
};

// The only way the agent touches netfilter. Each mutating call is one atomic kernel transaction in
// one namespace. Tables that are not ours are never modified. Errors name the object and the
// namespace.
//   NOT_FOUND         the network namespace path does not exist (RemovePod treats that as success)
//   INVALID_ARGUMENT  the path is not a network namespace, or is the host's
//   UNAVAILABLE       the kernel refused the transaction
//   ABORTED           the ruleset kept changing under a read-then-write (EnsureHost)
class Backend {
 public:
  virtual ~Backend() = default;

  // Host namespace = the namespace the agent runs in.
  // Creates our table, sets and rules if missing or different; keeps the set elements and their
  // owners. The table is read and replaced in a transaction bound to the ruleset generation it
  // read (NFNL_BATCH_GENID): when someone else changed the ruleset in between, it is read again
  // and retried rather than clobbered (ABORTED after a few rounds).
  virtual absl::Status EnsureHost(const HostRules& rules) = 0;
  // Adds and removes enrolled pod addresses in one transaction. Adding a present address sets its
  // owner to the one given; removing an absent one is not an error.
  virtual absl::Status UpdateHostMembers(const std::vector<HostMember>& add,
                                         const std::vector<IpAddress>& remove) = 0;
  virtual absl::StatusOr<HostObservation> ObserveHost(const HostRules& rules) = 0;
  // Deletes our host table (agent shutdown with cleanup); absent is fine.
  virtual absl::Status RemoveHost() = 0;

  // Pod namespaces are reached through a handle opened once (OpenPodNetns), so that what the path
  // names later (a pid reused, a bind mount replaced) cannot redirect a write to another
  // namespace. Opening never blocks and refuses the host namespace (INVALID_ARGUMENT): our pod
  // table and our host table have the same name.
  virtual absl::StatusOr<NetnsHandle> OpenPodNetns(const std::string& netns_path) = 0;
  // The same for a path that must stay beneath the directory `root` (OpenNetnsBeneath in
  // netfilter/netns.h: no symlink below `root` is followed, `..` cannot leave it, the file is
  // resolved once); what the agent uses for paths that callers send.
  virtual absl::StatusOr<NetnsHandle> OpenPodNetnsBeneath(const std::string& root,
                                                          const std::string& netns_path) = 0;
  // Atomically replaces our table with the one PodRules describe, owned by `owner`.
  virtual absl::Status ApplyPod(const NetnsHandle& netns, const PodRules& rules,
                                const TableOwner& owner) = 0;
  // Deletes our table in the pod namespace; an absent table is success.
  virtual absl::Status RemovePod(const NetnsHandle& netns) = 0;
  virtual absl::StatusOr<PodObservation> ObservePod(const NetnsHandle& netns,
                                                    const PodRules& rules) = 0;

  // By path (tools and tests): OpenPodNetns, then the call above. A missing namespace is success
  // for RemovePod and namespace_exists = false for ObservePod.
  absl::Status ApplyPod(const std::string& netns_path, const PodRules& rules,
                        const TableOwner& owner) {
    absl::StatusOr<NetnsHandle> netns = OpenPodNetns(netns_path);
    return netns.ok() ? ApplyPod(*netns, rules, owner) : netns.status();
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
