#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "netfilter/backend.h"

namespace probesnat::daemon::testing {

// An in-memory netfilter::Backend: it keeps what the kernel would hold, records every call, lets a
// test inject failures and simulate someone else editing the kernel. Thread-safe.
class FakeBackend : public netfilter::Backend {
 public:
  enum class Op {
    kEnsureHost,
    kUpdateHostMembers,
    kObserveHost,
    kRemoveHost,
    kApplyPod,
    kRemovePod,
    kObservePod,
    kOpenPodNetns
  };

  FakeBackend();

  absl::Status EnsureHost(const netfilter::HostRules& rules) override;
  absl::Status UpdateHostMembers(const std::vector<netfilter::HostMember>& add,
                                 const std::vector<IpAddress>& remove) override;
  absl::StatusOr<netfilter::HostObservation> ObserveHost(
      const netfilter::HostRules& rules) override;
  absl::Status RemoveHost() override;
  using netfilter::Backend::ApplyPod;
  using netfilter::Backend::ObservePod;
  using netfilter::Backend::RemovePod;
  absl::StatusOr<netfilter::NetnsHandle> OpenPodNetns(const std::string& netns_path) override;
  // The fake opens no file: `root` plays no part (the real confinement is tested in netfilter/).
  absl::StatusOr<netfilter::NetnsHandle> OpenPodNetnsBeneath(
      const std::string& root, const std::string& netns_path) override {
    return OpenPodNetns(netns_path);
  }
  absl::Status ApplyPod(const netfilter::NetnsHandle& netns, const netfilter::PodRules& rules,
                        const netfilter::TableOwner& owner) override;
  absl::Status RemovePod(const netfilter::NetnsHandle& netns) override;
  absl::StatusOr<netfilter::PodObservation> ObservePod(const netfilter::NetnsHandle& netns,
                                                       const netfilter::PodRules& rules) override;

  // Failure injection: the next `times` calls of `op` fail with `status` (and change nothing).
  void FailNext(Op op, const absl::Status& status, int times = 1);

  // The world outside the agent. Paths name namespaces; a namespace (with its tables) lives on
  // after its last path is gone, as the kernel keeps it for the agent's open handle.
  void AddNamespace(const std::string& netns_path);  // a new namespace at netns_path
  // `alias` names the namespace `target` names (a symlink, /proc/PID/ns/net of a process in it);
  // replaces what alias named before.
  void AliasNamespace(const std::string& alias, const std::string& target);
  void DeleteNamespace(const std::string& netns_path);  // the path no longer names anything
  void DeleteHostTable();
  void EditHostRules();  // the host table's rules no longer match
  void AddHostMember(const IpAddress& ip, const std::string& owner = "");
  void DeletePodTable(const std::string& netns_path);
  void EditPodTable(const std::string& netns_path);

  // What the "kernel" holds.
  bool host_table_present() const;
  std::set<IpAddress> host_members() const;
  // Each member's owner (the element's comment).
  std::map<IpAddress, std::string> host_member_owners() const;
  // The table in the namespace the path names now.
  std::optional<netfilter::PodRules> pod_table(const std::string& netns_path) const;
  std::optional<netfilter::TableOwner> pod_table_owner(const std::string& netns_path) const;
  // The kernel handle of the table there: a new one each time it is written (0: no table).
  uint64_t pod_table_handle(const std::string& netns_path) const;
  // Tables in all namespaces, also those no path names any more.
  int pod_table_count() const;
  int calls(Op op) const;
  int mutating_calls() const;  // EnsureHost, UpdateHostMembers, RemoveHost, ApplyPod, RemovePod

 private:
  absl::Status TakeInjected(Op op);  // counts the call

  mutable std::mutex mu_;
  std::map<Op, std::vector<absl::Status>> injected_;
  std::map<Op, int> calls_;
  std::map<std::string, uint64_t> paths_;  // path -> namespace number
  uint64_t next_namespace_ = 1;
  bool host_present_ = false;
  bool host_rules_match_ = false;
  std::map<IpAddress, std::string> members_;  // with their owners
  struct PodTable {
    netfilter::PodRules rules;
    netfilter::TableOwner owner;
    uint64_t handle = 0;
    bool edited = false;
  };
  uint64_t next_handle_ = 1;
  // The table in the namespace the path names now, or null.
  const PodTable* TableAtLocked(const std::string& netns_path) const;
  std::map<uint64_t, PodTable> pod_tables_;  // by namespace number
};

}  // namespace probesnat::daemon::testing
