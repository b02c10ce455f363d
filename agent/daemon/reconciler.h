#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/daemon/admission.h"
#include "agent/daemon/desired_pod.h"
#include "agent/daemon/host_membership.h"
#include "agent/daemon/pod_journal.h"
#include "agent/daemon/pod_store.h"
#include "agent/daemon/status_event_hub.h"
#include "agent/domain/finding.h"
#include "agent/domain/pod_spec.h"
#include "agent/domain/pod_state.h"
#include "netfilter/backend.h"
#include "netfilter/rules_spec.h"

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
  std::vector<agent::PodState> states;  // one per item, in request order
  std::vector<std::string> removed_uids;
};

// What one drift check found and did.
struct ResyncReport {
  int host_repairs = 0;  // host table re-created or set members re-added/removed
  int pod_repairs = 0;   // pod tables re-applied after deletion or edit
  int retries = 0;       // failed pods tried again
  int failures = 0;      // kernel errors during the check
};

// What start-up re-adoption found and did.
struct AdoptionReport {
  int adopted = 0;           // pod tables found as desired: kept, not rewritten
  int rewritten = 0;         // pod tables missing, edited or of another owner: written again
  int failed = 0;            // pods whose table could not be written (FAILED; the drift check retries)
  int namespaces_gone = 0;   // pods whose namespace is gone (FAILED, addresses withdrawn)
  int removals_finished = 0; // removals under way at the crash, finished now
  HostAdoption host;
};

// Desired state (pods by uid, each with a generation) and the only writer of kernel state, split
// along its locks:
//   - the PodStore answers List, Get and Watch from the published status of every pod; its lock is
//     never held across I/O, so reads do not wait for the kernel;
//   - a short registry lock guards which pods exist and what they claim (addresses, namespace), so
//     conflicts are found before anything is written;
//   - each pod has its own lock, held across its kernel transactions: one pod's changes are
//     applied in order, while other pods are applied, read back and removed meanwhile;
//   - HostMembership holds the host table, with a reference count per address.
// Enroll returns once the pod's rules are in the kernel. Kernel errors become UNAVAILABLE and the
// pod's status FAILED with the reason; what the failed attempt added is rolled back. Conflicts
// with another enrolled pod (same IP, or the same network namespace by identity, whatever path
// names it) are FAILED_PRECONDITION.
//
// A pod's network namespace is opened once, by its path, when the request is validated; every
// kernel call for the pod goes through that handle, never through the path again. The handle keeps
// the namespace alive until the pod is removed (Unenroll, Sync), so removal reaches the namespace
// even after the path is gone. The drift check re-resolves the path only to see whether it still
// names the enrolled namespace; if not (path gone, pid reused, bind mount replaced) the pod's
// namespace is gone: nothing is written, its addresses leave the host set and it is FAILED.
//
// With a journal, desired state outlives the process: a pod is journaled before its rules are
// written and erased only after they are removed, and every host set member and pod table carries
// its owner's uid, so that after a restart Adopt takes over exactly what the kernel holds for the
// journaled pods. Enroll, Unenroll and Sync wait until Adopt has run.
class Reconciler {
 public:
  // `journal` may be null (nothing outlives the process; no Adopt needed).
  Reconciler(netfilter::Backend& backend, const ReconcilerOptions& options, StatusEventHub& events,
             PodJournal* journal = nullptr);

  // Start-up, after EnsureHost: takes over the pods the journal held when the last run ended.
  // For each pod whose namespace its path still names, a table that is ours and as desired is
  // kept as it is, anything else is rewritten; a pod whose namespace is gone is FAILED and gives
  // up its addresses; a removal under way is finished. The host set follows in one transaction:
  // journaled pods hold their addresses, and members no journaled pod holds are removed when
  // `state_trusted` (else they are kept until Sync, as after a lost state file). Publishes every
  // pod, then lets Enroll, Unenroll and Sync proceed. Called once.
  AdoptionReport Adopt(std::vector<JournaledPod> pods, bool state_trusted);

  // Creates or repairs the host table. Enroll does it too when it has not succeeded yet.
  absl::Status EnsureHost();
  bool host_ready() const;
  // The host table's rules from now on (HostMembership::ReplaceRules), and the current ones.
  absl::Status ReplaceHostRules(const netfilter::HostRules& rules);
  netfilter::HostRules host_rules() const;

  // Told of every pod that enters the enrolled set or changes, and of every pod that leaves it
  // (the policy gate's view of the mesh); the pods already enrolled are reported at once.
  void SetEnrolledListener(EnrolledSetListener listener);

  absl::StatusOr<agent::PodState> Enroll(DesiredPod pod, std::vector<agent::Finding> findings);
  // The pod that was removed, or nullopt for an unknown uid (not an error).
  absl::StatusOr<std::optional<agent::PodSpec>> Unenroll(const std::string& uid);
  // Desired = exactly `items` (the caller has checked they are distinct): others are unenrolled,
  // each item is enrolled or updated, and host set members no pod accounts for are removed.
  SyncOutcome Sync(std::vector<SyncItem> items);

  std::vector<agent::PodState> List() const;
  absl::StatusOr<agent::PodState> Get(const std::string& uid) const;
  // Subscribes to status events; with `initial_state` the current status of every pod comes first.
  std::shared_ptr<StatusSubscription> Watch(bool initial_state);
  void Unwatch(const std::shared_ptr<StatusSubscription>& subscription);

  // Drift check: reads back the host table and every pod table and repairs what differs; retries
  // failed pods and unfinished removals.
  ResyncReport Resync();

  // Removes every pod table and the host table (shutdown with cleanup, uninstall); what it removed
  // goes to `*report` when given. The first error, after trying everything.
  struct RemoveAllReport {
    size_t pods_removed = 0;  // pods whose table (and host set members) are gone
    size_t pods_failed = 0;   // pods whose removal the kernel refused (still journaled)
    bool host_removed = false;
  };
  absl::Status RemoveAll(RemoveAllReport* report = nullptr);

 private:
  // Why a pod is FAILED, for the decisions that depend on it (never parsed from the reason text).
  enum class Failure { kNone, kKernel, kNetnsGone, kRemovalIncomplete };
  // Whether the path a pod was enrolled by still names its namespace.
  struct NetnsCheck {
    enum class Kind { kSame, kMissing, kReplaced, kUnreachable };
    Kind kind = Kind::kSame;
    std::string message;  // for kinds other than kSame
    bool gone() const { return kind != Kind::kSame; }
  };
  struct Record {
    DesiredPod desired;  // with the handle of the namespace it is applied in
    netfilter::PodRules rules;
    uint64_t generation = 0;
    agent::PodPhase phase = agent::PodPhase::kPending;
    std::string reason;
    Failure failure = Failure::kNone;
    NetnsCheck::Kind gone_kind = NetnsCheck::Kind::kSame;  // with Failure::kNetnsGone
    std::vector<agent::Finding> findings;
    absl::Time updated;
    // Namespaces that may hold its table (the current one, and one it left if removing the table
    // there failed), by identity.
    std::map<NetnsId, netfilter::NetnsHandle> pod_tables;
    bool removing = false;  // Unenroll/Sync removal failed part-way; Resync finishes it
    bool journaled = false;  // the journal holds this generation, namespace and removing flag
  };
  // What conflict checks and the host table check see of a pod (guarded by registry_mu_).
  struct Claim {
    bool active = false;  // false until the pod's first enrollment attempt claims it
    agent::PodSpec pod;   // for messages
    std::vector<IpAddress> ips;
    NetnsId netns;
    std::string netns_path;
    bool removing = false;
    bool applied = false;
  };
  struct Slot {
    std::mutex mu;            // held across this pod's kernel transactions
    bool has_record = false;  // guarded by mu
    Record record;            // guarded by mu
    Claim claim;              // guarded by registry_mu_
    bool gone = false;        // guarded by registry_mu_: erased from the registry
  };
  using SlotPtr = std::shared_ptr<Slot>;

  NetnsCheck CheckNetns(const std::string& path, const NetnsId& id);
  // FAILED_PRECONDITION when another pod claims the namespace; the uids of other pods that claim
  // one of the pod's addresses go to `ip_holders`.
  absl::Status FindConflictsLocked(const DesiredPod& pod,
                                   std::vector<std::string>* ip_holders) const;
  absl::Status IpConflictErrorLocked(const DesiredPod& pod, const std::string& other_uid) const;
  // Evicts the pods holding the pod's addresses whose namespaces are gone (deleted without
  // Unenroll), or refuses the pod if one of them is alive.
  absl::Status ResolveConflicts(const DesiredPod& pod);
  SlotPtr SlotFor(const std::string& uid);
  SlotPtr FindSlot(const std::string& uid) const;
  std::vector<std::pair<std::string, SlotPtr>> Slots() const;

  absl::StatusOr<agent::PodState> EnrollLocked(Slot& slot, DesiredPod pod,
                                               std::vector<agent::Finding> findings, bool trim);
  // Host set members first (kept while the pod table is written), then the pod table; with
  // `trim`, the addresses the pod no longer has leave the host set at the end.
  absl::Status ApplyLocked(Record& r, bool trim);
  absl::Status TrimLocked(Record& r);
  absl::Status RemoveLocked(Record& r);
  // Records the pod's desired state in the journal unless it already holds it.
  absl::Status JournalLocked(Record& r);
  // A removal failed part-way: the journal records that it is under way.
  void MarkRemovingLocked(Record& r);
  // Removes the slot after RemoveLocked succeeded, erases it from the journal and publishes
  // REMOVED. The error is the journal's (the pod is forgotten anyway).
  absl::Status ForgetLocked(Slot& slot);
  // One journaled pod at start-up; the addresses it holds go to `holders`.
  void AdoptOne(JournaledPod pod, std::map<std::string, std::vector<IpAddress>>& holders,
                AdoptionReport& report);
  // Unenroll of one slot; nullopt if it was gone.
  absl::StatusOr<std::optional<agent::PodSpec>> RemoveSlot(Slot& slot, const std::string& why);
  absl::Status FailLocked(Record& r, const std::string& reason, Failure failure = Failure::kKernel);
  void RepairPodLocked(Record& r, const NetnsCheck& netns, ResyncReport& report);
  // The store's copy and the claim follow the record.
  void PublishLocked(Slot& slot);
  std::set<IpAddress> ClaimedIps() const;
  netfilter::PodRules RulesFor(const DesiredPod& pod) const;
  agent::PodState StateOf(const Record& r) const;

  netfilter::Backend& backend_;
  const ReconcilerOptions options_;
  PodJournal* const journal_;
  absl::Notification adopted_;
  StatusEventHub& events_;
  PodStore store_;
  HostMembership host_;

  mutable std::mutex registry_mu_;
  std::map<std::string, SlotPtr> slots_;
  // Until the first Sync, host set members that no pod accounts for may belong to pods enrolled
  // before a restart; they are kept (probes keep working) and removed by Sync.
  std::atomic<bool> synced_once_ = false;
  std::mutex sync_mu_;  // one Sync at a time
};

}  // namespace probesnat::daemon
