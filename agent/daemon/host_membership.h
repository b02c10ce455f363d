#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/ip_address.h"
#include "netfilter/backend.h"
#include "netfilter/rules_spec.h"

namespace probesnat::daemon {

// What one host table check found and did.
struct HostRepair {
  int repairs = 0;   // table re-created, or set members re-added / removed
  int failures = 0;  // kernel errors
};

// What start-up re-adoption found in the host set and did (Adopt).
struct HostAdoption {
  int kept = 0;     // members already there with the right owner: not rewritten
  int written = 0;  // members added, or re-written with their owner
  std::vector<netfilter::HostMember> removed;  // owned by no desired pod
  std::vector<netfilter::HostMember> left;     // owned by no desired pod, kept (state not trusted)
};

// The host table and its enrolled-pod sets: which pod holds which address there. An address is
// in the kernel's set while at least one pod holds it (a reference count per address), so pods
// that swap or share addresses for a moment never take one out from under the other. The kernel
// element carries one owner (its comment): the first pod that held it, passed on to another holder
// when that pod lets go. Its lock is held for one host transaction at a time and never while a pod
// namespace is written.
class HostMembership {
 public:
  HostMembership(netfilter::Backend& backend, const netfilter::HostRules& rules);

  // Creates or repairs the host table, keeping its members.
  absl::Status EnsureHost();
  // From now on the host table is `rules` (the kubelet's cgroup changed): replaced at once, in one
  // transaction that keeps every member. On failure the new rules stay wanted: the next repair
  // retries them.
  absl::Status ReplaceRules(const netfilter::HostRules& rules);
  netfilter::HostRules rules() const;
  bool ready() const { return ready_.load(); }

  // The addresses `owner` holds in the kernel's set.
  std::vector<IpAddress> Held(const std::string& owner) const;
  // `owner` also holds `ips`: those no pod held before are added in one transaction. If that
  // fails because someone deleted or edited the host table, the table is repaired (with every
  // member) and the addition tried once more. On failure nothing changes.
  absl::Status Hold(const std::string& owner, const std::vector<IpAddress>& ips);
  // `owner` holds exactly `ips` from now on (a subset of what it holds; others are ignored):
  // what no pod holds any more is removed in one transaction. On failure `owner` keeps holding
  // everything it held.
  absl::Status Keep(const std::string& owner, const std::vector<IpAddress>& ips);
  absl::Status Release(const std::string& owner) { return Keep(owner, {}); }
  // The addresses `owner` holds that no other pod holds.
  std::vector<IpAddress> HeldOnlyBy(const std::string& owner) const;

  // At start-up, before any other call: `holders` (pod uid -> addresses) hold what they list,
  // taking over what the kernel already holds for them without rewriting it; what they lack, or
  // what carries another owner, is written with its owner. Members no holder accounts for are
  // removed when `remove_unheld` (the state was trusted), else left for Sync. One transaction.
  absl::StatusOr<HostAdoption> Adopt(const std::map<std::string, std::vector<IpAddress>>& holders,
                                     bool remove_unheld);

  // Reads the host table back: re-creates it if missing or edited, re-adds what the holders in
  // `check_owners` hold and the kernel lacks (or holds under another owner), and, unless
  // `accounted` is null, removes members that nobody holds and that are not in `*accounted`.
  HostRepair Repair(const std::set<std::string>& check_owners,
                    const std::set<IpAddress>* accounted);
  // Removes members that nobody holds and that are not in `accounted` (left by a previous run).
  // Returns what it removed.
  absl::StatusOr<std::vector<IpAddress>> RemoveUnheld(
      const std::set<IpAddress>& accounted);

  // Members the kernel names `owner` (a pod uid) the owner of, that Adopt left in place because the
  // state did not say who is desired and that no pod has held since: read back, and those still
  // carrying that owner removed in one transaction.
  // Unenroll of a pod the agent lost from its state gives up its addresses this way. Returns what
  // it removed.
  absl::StatusOr<std::vector<IpAddress>> ReleaseUnclaimed(const std::string& owner);
  // How many members Adopt left in place are still unclaimed (for tests and the log).
  size_t UnclaimedCount() const;

  // Deletes the host table (shutdown with cleanup).
  absl::Status RemoveHost();

 private:
  absl::Status EnsureHostLocked();
  // Another pod than `owner` that holds `ip`.
  std::string OtherHolderLocked(const IpAddress& ip, const std::string& owner) const;
  void RepairLocked(const std::set<std::string>& check_owners,
                    const std::set<IpAddress>* accounted, HostRepair& report);

  netfilter::Backend& backend_;
  netfilter::HostRules rules_;  // guarded by mu_
  std::atomic<bool> ready_ = false;
  mutable std::mutex mu_;
  std::map<std::string, std::set<IpAddress>> held_;  // by owner (pod uid)
  std::map<IpAddress, int> holders_;                  // how many owners hold each
  std::map<IpAddress, std::string> kernel_owner_;     // the owner written in the kernel, per held address
  // Left by Adopt (state not trusted), by the owner their kernel comment names; an address leaves
  // when a pod holds it, Sync removes it, or its owner is unenrolled.
  std::map<std::string, std::set<IpAddress>> unclaimed_;
  void ClaimLocked(const IpAddress& ip);
};

}  // namespace probesnat::daemon
