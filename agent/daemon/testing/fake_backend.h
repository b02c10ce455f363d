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
    kObservePod
  };

  FakeBackend();

  absl::Status EnsureHost(const netfilter::HostRules& rules) override;
  absl::Status UpdateHostMembers(const std::vector<netfilter::IpAddress>& add,
                                 const std::vector<netfilter::IpAddress>& remove) override;
  absl::StatusOr<netfilter::HostObservation> ObserveHost(
      const netfilter::HostRules& rules) override;
  absl::Status RemoveHost() override;
  absl::Status ApplyPod(const std::string& netns_path, const netfilter::PodRules& rules) override;
  absl::Status RemovePod(const std::string& netns_path) override;
  absl::StatusOr<netfilter::PodObservation> ObservePod(const std::string& netns_path,
                                                       const netfilter::PodRules& rules) override;

  // Failure injection: the next `times` calls of `op` fail with `status` (and change nothing).
  void FailNext(Op op, const absl::Status& status, int times = 1);

  // The world outside the agent.
  void AddNamespace(const std::string& netns_path);
  void DeleteNamespace(const std::string& netns_path);  // and its tables
  void DeleteHostTable();
  void EditHostRules();  // the host table's rules no longer match
  void AddHostMember(const netfilter::IpAddress& ip);
  void DeletePodTable(const std::string& netns_path);
  void EditPodTable(const std::string& netns_path);

  // What the "kernel" holds.
  bool host_table_present() const;
  std::set<netfilter::IpAddress> host_members() const;
  std::optional<netfilter::PodRules> pod_table(const std::string& netns_path) const;
  int calls(Op op) const;
  int mutating_calls() const;  // EnsureHost, UpdateHostMembers, RemoveHost, ApplyPod, RemovePod

 private:
  absl::Status TakeInjected(Op op);  // counts the call

  mutable std::mutex mu_;
  std::map<Op, std::vector<absl::Status>> injected_;
  std::map<Op, int> calls_;
  std::set<std::string> namespaces_;
  bool host_present_ = false;
  bool host_rules_match_ = false;
  std::set<netfilter::IpAddress> members_;
  struct PodTable {
    netfilter::PodRules rules;
    bool edited = false;
  };
  std::map<std::string, PodTable> pod_tables_;
};

}  // namespace probesnat::daemon::testing
