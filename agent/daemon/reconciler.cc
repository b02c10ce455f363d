#include "agent/daemon/reconciler.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/reconciler_internal.h"
#include "agent/domain/error_reason.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

using reconciler_internal::JoinIps;
using reconciler_internal::PodName;
using reconciler_internal::PodRecord;

}  // namespace

Reconciler::Reconciler(netfilter::Backend& backend, const ReconcilerOptions& options,
                       StatusEventHub& events, PodJournal* journal)
    : backend_(backend),
      options_(options),
      journal_(journal),
      events_(events),
      store_(events),
      host_(backend, options.host_rules) {
  if (journal_ == nullptr) {
    adopted_.Notify();
  }
}

absl::Status Reconciler::EnsureHost() { return host_.EnsureHost(); }

bool Reconciler::host_ready() const { return host_.ready(); }

absl::Status Reconciler::ReplaceHostRules(const netfilter::HostRules& rules) {
  return host_.ReplaceRules(rules);
}

netfilter::HostRules Reconciler::host_rules() const { return host_.rules(); }

void Reconciler::SetEnrolledListener(EnrolledSetListener listener) {
  store_.SetListener(std::move(listener));
}

netfilter::PodRules Reconciler::RulesFor(const DesiredPod& pod) const {
  netfilter::PodRules rules = options_.pod_rules;
  rules.inbound_capture = !pod.spec.overrides.disable_inbound_capture;
  rules.outbound_capture = !pod.spec.overrides.disable_outbound_capture;
  rules.enrolled_v4 = rules.enrolled_v6 = false;
  for (const IpAddress& ip : pod.spec.ips) {
    (ip.is_v4() ? rules.enrolled_v4 : rules.enrolled_v6) = true;
  }
  return rules;
}

agent::PodState Reconciler::StateOf(const Record& r) const {
  return agent::PodState{.spec = r.desired.spec,
                         .phase = r.phase,
                         .reason = r.reason,
                         .findings = r.findings,
                         .updated = r.updated,
                         .generation = r.generation};
}

void Reconciler::PublishLocked(Slot& slot) {
  const Record& r = slot.record;
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    slot.claim.active = true;
    slot.claim.pod = r.desired.spec;
    slot.claim.ips = r.desired.spec.ips;
    slot.claim.netns = r.desired.netns.id;
    slot.claim.netns_path = r.desired.netns_path();
    slot.claim.removing = r.removing;
    slot.claim.applied = r.phase == agent::PodPhase::kApplied;
  }
  store_.Put(StateOf(r));
}

std::set<IpAddress> Reconciler::ClaimedIps() const {
  std::lock_guard<std::mutex> lock(registry_mu_);
  std::set<IpAddress> all;
  for (const auto& [uid, slot] : slots_) {
    all.insert(slot->claim.ips.begin(), slot->claim.ips.end());
  }
  return all;
}

absl::Status Reconciler::FailLocked(Record& r, const std::string& reason, Failure failure) {
  r.phase = agent::PodPhase::kFailed;
  r.reason = reason;
  r.failure = failure;
  r.updated = absl::Now();
  return absl::UnavailableError(absl::StrCat("pod ", PodName(r.desired.spec), ": ", reason));
}

Reconciler::NetnsCheck Reconciler::CheckNetns(const std::string& path, const NetnsId& id) {
  absl::StatusOr<netfilter::NetnsHandle> now = backend_.OpenPodNetns(path);
  if (now.ok() && now->id == id) {
    return {};
  }
  if (now.ok()) {
    return {NetnsCheck::Kind::kReplaced,
            absl::StrCat("network namespace ", path,
                         " now names another namespace than the one enrolled (its process may "
                         "have exited and its pid been reused)")};
  }
  if (absl::IsNotFound(now.status())) {
    return {NetnsCheck::Kind::kMissing,
            absl::StrCat("network namespace ", path, " no longer exists")};
  }
  return {NetnsCheck::Kind::kUnreachable,
          absl::StrCat("network namespace ", path,
                       " no longer names the enrolled namespace: ", now.status().message())};
}

Reconciler::SlotPtr Reconciler::SlotFor(const std::string& uid) {
  std::lock_guard<std::mutex> lock(registry_mu_);
  SlotPtr& slot = slots_[uid];
  if (slot == nullptr) {
    slot = std::make_shared<Slot>();
  }
  return slot;
}

Reconciler::SlotPtr Reconciler::FindSlot(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(registry_mu_);
  auto it = slots_.find(uid);
  return it == slots_.end() ? nullptr : it->second;
}

std::vector<std::pair<std::string, Reconciler::SlotPtr>> Reconciler::Slots() const {
  std::lock_guard<std::mutex> lock(registry_mu_);
  return {slots_.begin(), slots_.end()};
}

absl::Status Reconciler::FindConflictsLocked(const DesiredPod& pod,
                                             std::vector<std::string>* ip_holders) const {
  for (const auto& [uid, slot] : slots_) {
    const Claim& c = slot->claim;
    if (uid == pod.uid() || !c.active || c.removing) {
      continue;
    }
    if (c.netns == pod.netns.id) {
      std::string same = c.netns_path == pod.netns_path()
                             ? ""
                             : absl::StrCat(" (the namespace ", c.netns_path, " names)");
      return agent::WithErrorReason(
          absl::FailedPreconditionError(absl::StrCat(
              "network namespace ", pod.netns_path(), same, " is already enrolled for pod ",
              PodName(c.pod), "; unenroll that pod first (or send the full set with Sync)")),
          agent::ErrorReason::kNetnsConflict);
    }
    for (const IpAddress& ip : pod.spec.ips) {
      if (std::find(c.ips.begin(), c.ips.end(), ip) != c.ips.end()) {
        ip_holders->push_back(uid);
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Reconciler::IpConflictErrorLocked(const DesiredPod& pod,
                                               const std::string& other_uid) const {
  auto it = slots_.find(other_uid);
  std::string clash = "an IP";
  std::string other = other_uid;
  if (it != slots_.end()) {
    const Claim& c = it->second->claim;
    other = PodName(c.pod);
    for (const IpAddress& ip : pod.spec.ips) {
      if (std::find(c.ips.begin(), c.ips.end(), ip) != c.ips.end()) {
        clash = absl::StrCat("IP ", ip.ToString());
      }
    }
  }
  return agent::WithErrorReason(absl::FailedPreconditionError(absl::StrCat(
                                    clash, " is already enrolled for pod ", other,
                                    "; unenroll that pod first (or send the full set with Sync)")),
                                agent::ErrorReason::kIpConflict);
}

// A pod that conflicts with another enrolled pod is refused, unless the other pod's network
// namespace is gone (its path no longer names it): then the other pod is stale (deleted without
// Unenroll) and is evicted. Namespaces are compared by identity: two paths may name one.
absl::Status Reconciler::ResolveConflicts(const DesiredPod& pod) {
  std::vector<std::string> holders;
  std::vector<std::tuple<std::string, std::string, NetnsId>> to_check;
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    if (absl::Status st = FindConflictsLocked(pod, &holders); !st.ok()) {
      return st;
    }
    for (const std::string& uid : holders) {
      const Claim& c = slots_.at(uid)->claim;
      to_check.emplace_back(uid, c.netns_path, c.netns);
    }
  }
  // Paths are re-resolved without any lock held.
  for (const auto& [uid, path, id] : to_check) {
    if (!CheckNetns(path, id).gone()) {
      std::lock_guard<std::mutex> lock(registry_mu_);
      return IpConflictErrorLocked(pod, uid);
    }
  }
  for (const auto& [uid, path, id] : to_check) {
    SlotPtr slot = FindSlot(uid);
    if (slot == nullptr) {
      continue;
    }
    std::lock_guard<std::mutex> lock(slot->mu);
    if (!slot->has_record) {
      continue;
    }
    Log(spdlog::level::warn,
        PodRecord("evicting a stale pod: its network namespace is gone and another pod claims "
                  "its addresses",
                  slot->record.desired.spec)
            .Text("claimed_by", pod.spec.Key()));
    if (absl::Status st = RemoveLocked(slot->record); !st.ok()) {
      MarkRemovingLocked(slot->record);
      PublishLocked(*slot);
      return absl::UnavailableError(absl::StrCat(
          "removing stale pod ", PodName(slot->record.desired.spec), " failed: ", st.message()));
    }
    if (absl::Status st = ForgetLocked(*slot); !st.ok()) {
      Log(spdlog::level::err,
          PodRecord("forgetting an evicted pod failed", slot->record.desired.spec)
              .Error(st.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<agent::PodState> Reconciler::Enroll(DesiredPod pod,
                                                   std::vector<agent::Finding> findings) {
  adopted_.WaitForNotification();
  if (absl::Status st = ResolveConflicts(pod); !st.ok()) {
    return st;
  }
  for (;;) {
    SlotPtr slot = SlotFor(pod.uid());
    std::lock_guard<std::mutex> lock(slot->mu);
    {
      std::lock_guard<std::mutex> registry(registry_mu_);
      if (slot->gone) {
        continue;  // removed meanwhile: take a fresh slot
      }
      std::vector<std::string> holders;
      absl::Status st = FindConflictsLocked(pod, &holders);
      if (st.ok() && !holders.empty()) {
        st = IpConflictErrorLocked(pod, holders.front());  // claimed meanwhile by another Enroll
      }
      if (!st.ok()) {
        if (!slot->has_record) {
          slots_.erase(pod.uid());
          slot->gone = true;
        }
        return st;
      }
      // Claimed before the kernel is written, so that a concurrent Enroll sees it.
      slot->claim.active = true;
      slot->claim.pod = pod.spec;
      slot->claim.ips = pod.spec.ips;
      slot->claim.netns = pod.netns.id;
      slot->claim.netns_path = pod.netns_path();
    }
    return EnrollLocked(*slot, std::move(pod), std::move(findings), /*trim=*/true);
  }
}

absl::StatusOr<agent::PodState> Reconciler::EnrollLocked(Slot& slot, DesiredPod pod,
                                                         std::vector<agent::Finding> findings,
                                                         bool trim) {
  Record& r = slot.record;
  if (!slot.has_record) {
    slot.has_record = true;
    r = Record();
    r.rules = RulesFor(pod);
    r.desired = std::move(pod);
    r.generation = 1;
    r.findings = std::move(findings);
    absl::Status st = ApplyLocked(r, trim);  // journals first
    r.updated = absl::Now();
    PublishLocked(slot);
    if (!st.ok()) {
      return st;
    }
    return StateOf(r);
  }

  const bool same_namespace = r.desired.netns.id == pod.netns.id;
  const bool same_desired = !r.removing && r.desired.spec == pod.spec;
  if (same_desired && same_namespace && r.phase == agent::PodPhase::kApplied) {
    // Identical re-enroll: nothing to do in the kernel; only the policy findings may be newer.
    if (r.findings != findings) {
      r.findings = std::move(findings);
      r.updated = absl::Now();
      PublishLocked(slot);
    }
    return StateOf(r);
  }
  netfilter::PodRules rules = RulesFor(pod);
  const bool kernel_unchanged = !r.removing && r.phase == agent::PodPhase::kApplied &&
                                r.desired.spec.ips == pod.spec.ips && same_namespace &&
                                r.rules == rules;
  if (!same_desired) {
    ++r.generation;
  }
  if (!same_desired || !same_namespace || r.removing) {
    r.journaled = false;
  }
  r.removing = false;
  r.desired = std::move(pod);
  r.rules = rules;
  r.findings = std::move(findings);
  r.updated = absl::Now();
  absl::Status st = kernel_unchanged ? JournalLocked(r) : ApplyLocked(r, trim);
  PublishLocked(slot);
  if (!st.ok()) {
    return st;
  }
  return StateOf(r);
}

absl::Status Reconciler::JournalLocked(Record& r) {
  if (journal_ == nullptr || r.journaled) {
    return absl::OkStatus();
  }
  absl::Status st = journal_->Put(JournaledPod{.spec = r.desired.spec,
                                              .generation = r.generation,
                                              .netns = r.desired.netns.id,
                                              .removing = r.removing});
  if (!st.ok()) {
    return FailLocked(r, absl::StrCat("recording the pod in the state file failed: ",
                                      st.message(), "; nothing was written to the kernel"));
  }
  r.journaled = true;
  return absl::OkStatus();
}

void Reconciler::MarkRemovingLocked(Record& r) {
  r.removing = true;
  r.journaled = false;
  if (absl::Status st = JournalLocked(r); !st.ok()) {
    Log(spdlog::level::err,
        PodRecord("journaling a removal failed", r.desired.spec).Error(st.message()));
  }
}

absl::Status Reconciler::ApplyLocked(Record& r, bool trim) {
  // Journaled before anything is written: after a crash, whatever the kernel holds of the pod
  // belongs to a pod the journal names.
  if (absl::Status st = JournalLocked(r); !st.ok()) {
    return st;
  }
  if (!host_.ready()) {
    if (absl::Status st = host_.EnsureHost(); !st.ok()) {
      return FailLocked(r, absl::StrCat("creating the host table failed: ", st.message()));
    }
  }
  const std::string& uid = r.desired.uid();
  const std::vector<IpAddress> previous = host_.Held(uid);
  const absl::Time t0 = absl::Now();
  if (absl::Status st = host_.Hold(uid, r.desired.spec.ips); !st.ok()) {
    return FailLocked(r, std::string(st.message()));
  }

  const netfilter::NetnsHandle& netns = r.desired.netns;
  const absl::Time t1 = absl::Now();
  absl::Status st = backend_.ApplyPod(netns, r.rules, netfilter::TableOwner{uid, r.generation});
  const absl::Time t2 = absl::Now();
  std::string failure;
  if (!st.ok()) {
    failure = absl::StrCat("applying the pod table failed: ", st.message());
  } else {
    r.pod_tables.insert_or_assign(netns.id, netns);
    if (options_.readback_after_apply) {
      absl::StatusOr<netfilter::PodObservation> obs = backend_.ObservePod(netns, r.rules);
      if (!obs.ok()) {
        failure = absl::StrCat("reading the pod table back failed: ", obs.status().message());
      } else if (!obs->table_present || !obs->rules_match) {
        failure = absl::StrCat("read back after apply: table ",
                               obs->table_present ? "present" : "missing", ", rules ",
                               obs->rules_match ? "match" : "differ");
      }
    }
  }
  if (!failure.empty()) {
    // Roll back what this attempt added to the host set (addresses another pod holds stay).
    if (absl::Status rb = host_.Keep(uid, previous); !rb.ok()) {
      Log(spdlog::level::err,
          PodRecord("rolling back the host set after a failed apply failed", r.desired.spec)
              .Error(rb.message()));
    }
    return FailLocked(r, failure);
  }
  // The pod moved to a new namespace (sandbox re-created): remove the table from the old one.
  for (auto it = r.pod_tables.begin(); it != r.pod_tables.end();) {
    if (it->first == netns.id) {
      ++it;
      continue;
    }
    if (absl::Status rm = backend_.RemovePod(it->second); !rm.ok()) {
      Log(spdlog::level::warn,
          PodRecord("removing the table from the pod's previous namespace failed", r.desired.spec)
              .Text("previous_netns", it->second.path)
              .Error(rm.message()));
      ++it;
    } else {
      it = r.pod_tables.erase(it);
    }
  }
  r.phase = agent::PodPhase::kApplied;
  r.reason.clear();
  r.failure = Failure::kNone;
  if (trim) {
    if (absl::Status trimmed = TrimLocked(r); !trimmed.ok()) {
      return trimmed;
    }
  }
  r.updated = absl::Now();
  spdlog::debug("pod {}: host set {}us, pod table {}us, read-back and cleanup {}us",
                PodName(r.desired.spec), absl::ToInt64Microseconds(t1 - t0),
                absl::ToInt64Microseconds(t2 - t1), absl::ToInt64Microseconds(r.updated - t2));
  return absl::OkStatus();
}

absl::Status Reconciler::TrimLocked(Record& r) {
  if (absl::Status st = host_.Keep(r.desired.uid(), r.desired.spec.ips); !st.ok()) {
    // The pod's rules are in place; the address it gave up is still SNATed. The drift check
    // retries.
    return FailLocked(r, std::string(st.message()));
  }
  return absl::OkStatus();
}

absl::Status Reconciler::RemoveLocked(Record& r) {
  if (absl::Status st = host_.Release(r.desired.uid()); !st.ok()) {
    return absl::UnavailableError(st.message());
  }
  absl::Status first_error;
  // Through the handles: the namespace is reached even if its path is gone or names another.
  for (auto it = r.pod_tables.begin(); it != r.pod_tables.end();) {
    if (absl::Status st = backend_.RemovePod(it->second); !st.ok()) {
      if (first_error.ok()) {
        first_error = absl::UnavailableError(
            absl::StrCat("removing the pod table in ", it->second.path, " failed: ", st.message()));
      }
      ++it;
    } else {
      it = r.pod_tables.erase(it);
    }
  }
  return first_error;
}

absl::Status Reconciler::ForgetLocked(Slot& slot) {
  absl::Status journaled;
  if (journal_ != nullptr) {
    if (absl::Status st = journal_->Erase(slot.record.desired.uid()); !st.ok()) {
      journaled = absl::UnavailableError(absl::StrCat(
          "pod ", PodName(slot.record.desired.spec),
          ": its rules are removed, but erasing it from the state file failed (after a restart "
          "it would be enrolled again): ",
          st.message()));
    }
  }
  agent::PodState removed = StateOf(slot.record);
  removed.phase = agent::PodPhase::kRemoved;
  removed.reason.clear();
  removed.updated = absl::Now();
  const std::string uid = slot.record.desired.uid();
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    if (auto it = slots_.find(uid); it != slots_.end() && it->second.get() == &slot) {
      slots_.erase(it);
    }
    slot.gone = true;
  }
  slot.has_record = false;
  store_.Erase(uid, removed);
  return journaled;
}

absl::StatusOr<std::optional<agent::PodSpec>> Reconciler::RemoveSlot(Slot& slot,
                                                                     const std::string& why) {
  std::lock_guard<std::mutex> lock(slot.mu);
  if (!slot.has_record) {
    return std::nullopt;
  }
  Record& r = slot.record;
  if (absl::Status st = RemoveLocked(r); !st.ok()) {
    MarkRemovingLocked(r);
    (void)FailLocked(r, absl::StrCat(why, " incomplete: ", st.message()),
                     Failure::kRemovalIncomplete);
    PublishLocked(slot);
    return st;
  }
  agent::PodSpec removed = r.desired.spec;
  if (absl::Status st = ForgetLocked(slot); !st.ok()) {
    return st;
  }
  return removed;
}

absl::StatusOr<std::optional<agent::PodSpec>> Reconciler::Unenroll(const std::string& uid) {
  adopted_.WaitForNotification();
  SlotPtr slot = FindSlot(uid);
  if (slot == nullptr) {
    absl::StatusOr<std::vector<IpAddress>> released = host_.ReleaseUnclaimed(uid);
    if (!released.ok()) {
      return absl::UnavailableError(
          absl::StrCat("unenrolling pod uid ", uid, ": ", released.status().message()));
    }
    if (!released->empty()) {
      Log(spdlog::level::warn,
          LogRecord("unenroll: not in the state (it was lost), but the kernel names it the owner "
                    "of host set members: removed; its pod table, in a network namespace the "
                    "agent no longer knows, stays until the pod is deleted")
              .Uid(uid)
              .Text("ips", JoinIps(*released)));
    }
    return std::nullopt;
  }
  absl::StatusOr<std::optional<agent::PodSpec>> removed = RemoveSlot(*slot, "unenroll");
  if (!removed.ok()) {
    std::lock_guard<std::mutex> lock(slot->mu);
    return absl::UnavailableError(absl::StrCat(
        "unenrolling pod ", PodName(slot->record.desired.spec), ": ", removed.status().message()));
  }
  return removed;
}

SyncOutcome Reconciler::Sync(std::vector<SyncItem> items) {
  adopted_.WaitForNotification();
  std::lock_guard<std::mutex> one_sync(sync_mu_);
  // An item whose namespace an earlier item of the request already names by another path fails.
  std::vector<absl::Status> namespaces;
  std::map<NetnsId, const SyncItem*> by_namespace;
  namespaces.reserve(items.size());
  for (SyncItem& item : items) {
    absl::Status netns;
    if (!item.admission.refused) {
      if (auto [it, fresh] = by_namespace.emplace(item.pod.netns.id, &item); !fresh) {
        netns = absl::FailedPreconditionError(absl::StrCat(
            "pod ", PodName(item.pod.spec), ": network namespace ", item.pod.netns_path(),
            " is also the namespace of pod ", PodName(it->second->pod.spec), " (",
            it->second->pod.netns_path(), ") in this request"));
      }
    }
    namespaces.push_back(std::move(netns));
  }

  SyncOutcome out;
  std::set<std::string> wanted;
  for (const SyncItem& item : items) {
    wanted.insert(item.pod.uid());
  }
  for (const auto& [uid, slot] : Slots()) {
    if (wanted.count(uid) != 0) {
      continue;
    }
    absl::StatusOr<std::optional<agent::PodSpec>> removed = RemoveSlot(*slot, "removal by Sync");
    if (!removed.ok()) {
      Log(spdlog::level::err,
          LogRecord("sync: removing a pod failed").Uid(uid).Error(removed.status().message()));
    } else if (removed->has_value()) {
      out.removed_uids.push_back(uid);
    }
  }

  // Each pod is applied under its own lock; the addresses pods give up leave the host set only
  // after every pod is applied, so pods may swap addresses within one Sync without a gap.
  std::vector<SlotPtr> applied(items.size());
  out.states.resize(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    SyncItem& item = items[i];
    if (item.admission.refused || !namespaces[i].ok()) {
      // Not enrolled (a pod already enrolled under this uid is kept as it is).
      agent::PodState& refused = out.states[i];
      refused.spec = item.pod.spec;
      refused.phase = agent::PodPhase::kFailed;
      refused.reason =
          item.admission.refused ? item.admission.refusal : std::string(namespaces[i].message());
      refused.findings = item.admission.findings;
      refused.updated = absl::Now();
      continue;
    }
    // The request's pods are distinct and every other pod was just removed, so there is nothing
    // to conflict with.
    SlotPtr slot = SlotFor(item.pod.uid());
    std::lock_guard<std::mutex> lock(slot->mu);
    absl::StatusOr<agent::PodState> st = EnrollLocked(
        *slot, std::move(item.pod), std::move(item.admission.findings), /*trim=*/false);
    out.states[i] = st.ok() ? *std::move(st) : StateOf(slot->record);
    if (slot->record.phase == agent::PodPhase::kApplied) {
      applied[i] = slot;
    }
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (applied[i] == nullptr) {
      continue;
    }
    Slot& slot = *applied[i];
    std::lock_guard<std::mutex> lock(slot.mu);
    if (!slot.has_record || slot.record.phase != agent::PodPhase::kApplied) {
      continue;
    }
    if (!TrimLocked(slot.record).ok()) {
      PublishLocked(slot);
      out.states[i] = StateOf(slot.record);
    }
  }

  // Host set members no pod accounts for (left by pods enrolled before a restart) go now.
  absl::StatusOr<std::vector<IpAddress>> extra = host_.RemoveUnheld(ClaimedIps());
  if (!extra.ok()) {
    Log(spdlog::level::err, LogRecord("sync: removing unclaimed host set members failed")
                                .Error(extra.status().message()));
  } else if (!extra->empty()) {
    Log(spdlog::level::info,
        LogRecord("sync: removed host set members no enrolled pod accounts for")
            .Text("ips", JoinIps(*extra)));
  }
  synced_once_ = true;
  return out;
}

std::vector<agent::PodState> Reconciler::List() const { return store_.List(); }

absl::StatusOr<agent::PodState> Reconciler::Get(const std::string& uid) const {
  return store_.Get(uid);
}

std::shared_ptr<StatusSubscription> Reconciler::Watch(bool initial_state) {
  return store_.Watch(initial_state);
}

void Reconciler::Unwatch(const std::shared_ptr<StatusSubscription>& subscription) {
  events_.Unsubscribe(subscription);
}

absl::Status Reconciler::RemoveAll(RemoveAllReport* report) {
  RemoveAllReport counts;
  absl::Status first_error;
  for (const auto& [uid, slot] : Slots()) {
    absl::StatusOr<std::optional<agent::PodSpec>> removed = RemoveSlot(*slot, "cleanup on exit");
    if (!removed.ok()) {
      ++counts.pods_failed;
      if (first_error.ok()) {
        first_error = removed.status();
      }
    } else if (removed->has_value()) {
      ++counts.pods_removed;
    }
  }
  if (absl::Status st = host_.RemoveHost(); !st.ok()) {
    if (first_error.ok()) {
      first_error = st;
    }
  } else {
    counts.host_removed = true;
  }
  if (report != nullptr) {
    *report = counts;
  }
  return first_error;
}

}  // namespace probesnat::daemon
