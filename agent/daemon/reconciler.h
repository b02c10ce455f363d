#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/daemon/desired_pod.h"
#include "agent/daemon/policy_admission.h"
#include "agent/daemon/status_event_hub.h"
#include "netfilter/backend.h"
#include "netfilter/rules_spec.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::daemon {

struct ReconcilerOptions {
  netfilter::HostRules host_rules;
  netfilter::PodRules pod_rules;  // per-pod overrides are applied on top
  // After ApplyPod, read the pod table back (ObservePod) before reporting APPLIED. Off by default:
  // the transaction's acknowledgement already says the kernel holds exactly the table, a read-back
  // costs ~125us (a third of an Enroll), and the drift check reads every table back anyway.
  bool readback_after_apply = false;
};

// One pod of a Sync request, validated and admitted (or refused) by the policy check.
struct SyncItem {
  DesiredPod pod;
  Admission admission;
};

struct SyncOutcome {
  std::vector<v1::PodStatus> statuses;  // one per item, in request order
  std::vector<std::string> removed_uids;
};

// What one drift check found and did.
struct ResyncReport {
  int host_repairs = 0;  // host table re-created or set members re-added/removed
  int pod_repairs = 0;   // pod tables re-applied after deletion or edit
  int retries = 0;       // failed pods tried again
  int failures = 0;      // kernel errors during the check
};

// Desired state (pods by uid, each with a generation) and the only writer of kernel state. Every
// public method takes one mutex, so kernel transactions never interleave. Kernel errors become
// UNAVAILABLE and the pod's status FAILED with the reason; what the failed attempt added is rolled
// back. Conflicts with another enrolled pod (same IP, or the same network namespace by identity,
// whatever path names it) are FAILED_PRECONDITION.
//
// A pod's network namespace is opened once, by its path, when it is enrolled; every later kernel
// call for the pod goes through that handle, never through the path again. The handle keeps the
// namespace alive until the pod is removed (Unenroll, Sync), so removal reaches the namespace
// even after the path is gone. The drift check re-resolves the path only to see whether it still
// names the enrolled namespace; if not (path gone, pid reused, bind mount replaced) the pod's
// namespace is gone: nothing is written, its addresses leave the host set and it is FAILED.
class Reconciler {
 public:
  Reconciler(netfilter::Backend& backend, const ReconcilerOptions& options, StatusEventHub& events);

  // Creates or repairs the host table. Enroll does it too when it has not succeeded yet.
  absl::Status EnsureHost();
  bool host_ready() const;

  absl::StatusOr<v1::PodStatus> Enroll(DesiredPod pod, std::vector<v1::Finding> findings);
  // The pod that was removed, or nullopt for an unknown uid (not an error).
  absl::StatusOr<std::optional<v1::Pod>> Unenroll(const std::string& uid);
  // Desired = exactly `items` (the caller has checked they are distinct): others are unenrolled,
  // each item is enrolled or updated, and host set members no pod accounts for are removed.
  SyncOutcome Sync(std::vector<SyncItem> items);

  std::vector<v1::PodStatus> List() const;
  absl::StatusOr<v1::PodStatus> Get(const std::string& uid) const;
  // Subscribes to status events; with `initial_state` the current status of every pod comes first.
  std::shared_ptr<StatusSubscription> Watch(bool initial_state);
  void Unwatch(const std::shared_ptr<StatusSubscription>& subscription);

  // Drift check: reads back the host table and every pod table and repairs what differs; retries
  // failed pods and unfinished removals.
  ResyncReport Resync();

  // Removes every pod table and the host table (shutdown with cleanup).
  absl::Status RemoveAll();

 private:
  struct KernelFootprint {  // what this pod has put into the kernel, as far as we know
    std::vector<netfilter::IpAddress> host_members;  // sorted
    // Namespaces that may hold its table (the current one, and one it left if removing the table
    // there failed), by identity.
    std::map<netfilter::NetnsId, netfilter::NetnsHandle> pod_tables;
  };
  struct Record {
    DesiredPod desired;
    netfilter::NetnsHandle netns;  // opened at enroll by desired.netns_path()
    netfilter::PodRules rules;
    uint64_t generation = 0;
    v1::PodPhase phase = v1::POD_PHASE_PENDING;
    std::string reason;
    std::vector<v1::Finding> findings;
    absl::Time updated;
    KernelFootprint kernel;
    bool removing = false;  // Unenroll/Sync removal failed part-way; Resync finishes it
  };

  absl::Status EnsureHostLocked();
  absl::StatusOr<v1::PodStatus> EnrollLocked(DesiredPod pod, netfilter::NetnsHandle netns,
                                             std::vector<v1::Finding> findings,
                                             bool check_conflicts);
  absl::Status ResolveConflictsLocked(const DesiredPod& pod, const netfilter::NetnsHandle& netns);
  // Opens the pod's namespace by its path (never blocks; call without holding mu_).
  absl::StatusOr<netfilter::NetnsHandle> OpenNetnsOf(const DesiredPod& pod);
  // Empty if `path` still names the namespace `id`; otherwise why the pod's namespace is gone
  // ("network namespace P no longer exists", "... now names another namespace").
  std::string NetnsGoneReason(const std::string& path, const netfilter::NetnsId& id);
  absl::Status ApplyLocked(Record& r);
  absl::Status RemoveLocked(Record& r);
  // Removes the record after RemoveLocked succeeded and publishes REMOVED.
  void ForgetLocked(const std::string& uid);
  absl::Status FailLocked(Record& r, const std::string& reason);
  // `gone_reason` as NetnsGoneReason, found without holding mu_.
  void RepairPodLocked(Record& r, const std::string& gone_reason, ResyncReport& report);
  void RepairHostLocked(ResyncReport& report);
  // Those of `candidates` that another (not removing) pod wants or has in the host set.
  std::set<netfilter::IpAddress> ClaimedByOthersLocked(
      const std::string& uid, const std::vector<netfilter::IpAddress>& candidates) const;
  std::set<netfilter::IpAddress> AllFootprintIpsLocked() const;
  netfilter::PodRules RulesFor(const DesiredPod& pod) const;
  v1::PodStatus StatusOf(const Record& r) const;
  void PublishLocked(const Record& r);

  netfilter::Backend& backend_;
  const ReconcilerOptions options_;
  StatusEventHub& events_;

  mutable std::mutex mu_;
  std::map<std::string, Record> records_;
  bool host_ready_ = false;
  // Until the first Sync, host set members that no pod accounts for may belong to pods enrolled
  // before a restart; they are kept (probes keep working) and removed by Sync.
  bool synced_once_ = false;
};

}  // namespace probesnat::daemon
