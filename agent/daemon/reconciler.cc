#include "agent/daemon/reconciler.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/reconciler_internal.h"
#include "google/protobuf/util/message_differencer.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

using netfilter::IpAddress;
using reconciler_internal::JoinIps;
using reconciler_internal::Minus;
using reconciler_internal::PodName;

bool SameFindings(const std::vector<v1::Finding>& a, const std::vector<v1::Finding>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a[i], b[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

Reconciler::Reconciler(netfilter::Backend& backend, const ReconcilerOptions& options,
                       StatusEventHub& events)
    : backend_(backend), options_(options), events_(events) {}

absl::Status Reconciler::EnsureHost() {
  std::lock_guard<std::mutex> lock(mu_);
  return EnsureHostLocked();
}

bool Reconciler::host_ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_ready_;
}

absl::Status Reconciler::EnsureHostLocked() {
  absl::Status st = backend_.EnsureHost(options_.host_rules);
  host_ready_ = st.ok();
  return st;
}

netfilter::PodRules Reconciler::RulesFor(const DesiredPod& pod) const {
  netfilter::PodRules rules = options_.pod_rules;
  rules.inbound_capture = !pod.pod.overrides().disable_inbound_capture();
  rules.outbound_capture = !pod.pod.overrides().disable_outbound_capture();
  rules.enrolled_v4 = rules.enrolled_v6 = false;
  for (const IpAddress& ip : pod.ips) {
    (ip.is_v4() ? rules.enrolled_v4 : rules.enrolled_v6) = true;
  }
  return rules;
}

v1::PodStatus Reconciler::StatusOf(const Record& r) const {
  v1::PodStatus s;
  *s.mutable_pod() = r.desired.pod;
  s.set_phase(r.phase);
  s.set_reason(r.reason);
  for (const v1::Finding& f : r.findings) {
    *s.add_findings() = f;
  }
  int64_t nanos = absl::ToUnixNanos(r.updated);
  s.mutable_updated()->set_seconds(nanos / 1000000000);
  s.mutable_updated()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  s.set_generation(r.generation);
  return s;
}

void Reconciler::PublishLocked(const Record& r) { events_.Publish(StatusOf(r)); }

std::set<IpAddress> Reconciler::ClaimedByOthersLocked(
    const std::string& uid, const std::vector<IpAddress>& candidates) const {
  std::set<IpAddress> claimed;
  if (candidates.empty()) {
    return claimed;
  }
  auto holds = [](const std::vector<IpAddress>& ips, const IpAddress& ip) {
    return std::find(ips.begin(), ips.end(), ip) != ips.end();
  };
  for (const auto& [other_uid, r] : records_) {
    if (other_uid == uid || r.removing) {
      continue;
    }
    for (const IpAddress& ip : candidates) {
      if (holds(r.desired.ips, ip) || holds(r.kernel.host_members, ip)) {
        claimed.insert(ip);
      }
    }
  }
  return claimed;
}

std::set<IpAddress> Reconciler::AllFootprintIpsLocked() const {
  std::set<IpAddress> all;
  for (const auto& [uid, r] : records_) {
    all.insert(r.desired.ips.begin(), r.desired.ips.end());
    all.insert(r.kernel.host_members.begin(), r.kernel.host_members.end());
  }
  return all;
}

absl::Status Reconciler::FailLocked(Record& r, const std::string& reason) {
  r.phase = v1::POD_PHASE_FAILED;
  r.reason = reason;
  r.updated = absl::Now();
  return absl::UnavailableError(absl::StrCat("pod ", PodName(r.desired.pod), ": ", reason));
}

absl::StatusOr<netfilter::NetnsHandle> Reconciler::OpenNetnsOf(const DesiredPod& pod) {
  absl::StatusOr<netfilter::NetnsHandle> netns = backend_.OpenPodNetns(pod.netns_path());
  if (!netns.ok()) {
    // Validation found it; gone since: the request's path is wrong, as validation would say.
    const absl::StatusCode code = absl::IsNotFound(netns.status())
                                      ? absl::StatusCode::kInvalidArgument
                                      : netns.status().code();
    return absl::Status(code,
                        absl::StrCat("pod ", PodName(pod.pod), ": ", netns.status().message()));
  }
  return netns;
}

std::string Reconciler::NetnsGoneReason(const std::string& path, const netfilter::NetnsId& id) {
  absl::StatusOr<netfilter::NetnsHandle> now = backend_.OpenPodNetns(path);
  if (now.ok() && now->id == id) {
    return "";
  }
  if (now.ok()) {
    return absl::StrCat("network namespace ", path,
                        " now names another namespace than the one enrolled (its process may "
                        "have exited and its pid been reused)");
  }
  if (absl::IsNotFound(now.status())) {
    return absl::StrCat("network namespace ", path, " no longer exists");
  }
  return absl::StrCat("network namespace ", path,
                      " no longer names the enrolled namespace: ", now.status().message());
}

// A pod that conflicts with another enrolled pod is refused, unless the other pod's network
// namespace is gone (its path no longer names it): then the other pod is stale (deleted without
// Unenroll) and is evicted. Namespaces are compared by identity: two paths may name one.
absl::Status Reconciler::ResolveConflictsLocked(const DesiredPod& pod,
                                                const netfilter::NetnsHandle& netns) {
  std::vector<std::string> stale;
  for (const auto& [uid, r] : records_) {
    if (uid == pod.uid() || r.removing) {
      continue;
    }
    if (r.netns.id == netns.id) {
      std::string same = r.desired.netns_path() == pod.netns_path()
                             ? ""
                             : absl::StrCat(" (the namespace ", r.desired.netns_path(), " names)");
      return absl::FailedPreconditionError(absl::StrCat(
          "network namespace ", pod.netns_path(), same, " is already enrolled for pod ",
          PodName(r.desired.pod), "; unenroll that pod first (or send the full set with Sync)"));
    }
    std::string clash;
    for (const IpAddress& ip : pod.ips) {
      if (std::find(r.desired.ips.begin(), r.desired.ips.end(), ip) != r.desired.ips.end()) {
        clash = absl::StrCat("IP ", ip.ToString());
      }
    }
    if (clash.empty()) {
      continue;
    }
    if (!NetnsGoneReason(r.desired.netns_path(), r.netns.id).empty()) {
      stale.push_back(uid);
      continue;
    }
    return absl::FailedPreconditionError(
        absl::StrCat(clash, " is already enrolled for pod ", PodName(r.desired.pod),
                     "; unenroll that pod first (or send the full set with Sync)"));
  }
  for (const std::string& uid : stale) {
    Record& r = records_.at(uid);
    spdlog::warn(
        "evicting stale pod {}: its network namespace {} is gone and pod {} claims its "
        "addresses",
        PodName(r.desired.pod), r.desired.netns_path(), PodName(pod.pod));
    if (absl::Status st = RemoveLocked(r); !st.ok()) {
      r.removing = true;
      return absl::UnavailableError(
          absl::StrCat("removing stale pod ", PodName(r.desired.pod), " failed: ", st.message()));
    }
    ForgetLocked(uid);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::PodStatus> Reconciler::Enroll(DesiredPod pod,
                                                 std::vector<v1::Finding> findings) {
  // Opened before taking mu_: readers never wait for a path to resolve.
  absl::StatusOr<netfilter::NetnsHandle> netns = OpenNetnsOf(pod);
  if (!netns.ok()) {
    return netns.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  return EnrollLocked(std::move(pod), *std::move(netns), std::move(findings),
                      /*check_conflicts=*/true);
}

absl::StatusOr<v1::PodStatus> Reconciler::EnrollLocked(DesiredPod pod, netfilter::NetnsHandle netns,
                                                       std::vector<v1::Finding> findings,
                                                       bool check_conflicts) {
  if (check_conflicts) {
    if (absl::Status st = ResolveConflictsLocked(pod, netns); !st.ok()) {
      return st;
    }
  }
  const std::string uid = pod.uid();
  auto it = records_.find(uid);
  if (it == records_.end()) {
    Record fresh;
    fresh.rules = RulesFor(pod);
    fresh.desired = std::move(pod);
    fresh.netns = std::move(netns);
    fresh.generation = 1;
    fresh.findings = std::move(findings);
    it = records_.emplace(uid, std::move(fresh)).first;
    Record& r = it->second;
    absl::Status st = ApplyLocked(r);
    r.updated = absl::Now();
    PublishLocked(r);
    if (!st.ok()) {
      return st;
    }
    return StatusOf(r);
  }

  Record& r = it->second;
  const bool same_namespace = r.netns.id == netns.id;
  const bool same_desired =
      !r.removing && google::protobuf::util::MessageDifferencer::Equals(r.desired.pod, pod.pod);
  if (same_desired && same_namespace && r.phase == v1::POD_PHASE_APPLIED) {
    // Identical re-enroll: nothing to do in the kernel; only the policy findings may be newer.
    if (!SameFindings(r.findings, findings)) {
      r.findings = std::move(findings);
      r.updated = absl::Now();
      PublishLocked(r);
    }
    return StatusOf(r);
  }
  netfilter::PodRules rules = RulesFor(pod);
  const bool kernel_unchanged = !r.removing && r.phase == v1::POD_PHASE_APPLIED &&
                                r.desired.ips == pod.ips && same_namespace && r.rules == rules;
  if (!same_desired) {
    ++r.generation;
  }
  r.removing = false;
  r.desired = std::move(pod);
  r.netns = std::move(netns);
  r.rules = rules;
  r.findings = std::move(findings);
  r.updated = absl::Now();
  absl::Status st = kernel_unchanged ? absl::OkStatus() : ApplyLocked(r);
  PublishLocked(r);
  if (!st.ok()) {
    return st;
  }
  return StatusOf(r);
}

absl::Status Reconciler::ApplyLocked(Record& r) {
  if (!host_ready_) {
    if (absl::Status st = EnsureHostLocked(); !st.ok()) {
      return FailLocked(r, absl::StrCat("creating the host table failed: ", st.message()));
    }
  }
  const std::vector<IpAddress> previous = r.kernel.host_members;
  std::vector<IpAddress> add =
      Minus(r.desired.ips, std::set<IpAddress>(previous.begin(), previous.end()));
  std::vector<IpAddress> touched = previous;
  touched.insert(touched.end(), add.begin(), add.end());
  const std::set<IpAddress> claimed = ClaimedByOthersLocked(r.desired.uid(), touched);
  std::set<IpAddress> keep(r.desired.ips.begin(), r.desired.ips.end());
  keep.insert(claimed.begin(), claimed.end());
  std::vector<IpAddress> remove = Minus(previous, keep);
  const absl::Time t0 = absl::Now();
  if (!add.empty() || !remove.empty()) {
    absl::Status st = backend_.UpdateHostMembers(add, remove);
    if (!st.ok()) {
      // Perhaps someone deleted the host table: repair it now rather than at the next drift check,
      // then try once more.
      ResyncReport repair;
      RepairHostLocked(repair);
      if (repair.host_repairs > 0) {
        st = backend_.UpdateHostMembers(add, remove);
      }
    }
    if (!st.ok()) {
      return FailLocked(r, absl::StrCat("updating the host set (add ", JoinIps(add), "; remove ",
                                        JoinIps(remove), ") failed: ", st.message()));
    }
  }
  r.kernel.host_members = r.desired.ips;

  const netfilter::NetnsHandle& netns = r.netns;
  const absl::Time t1 = absl::Now();
  absl::Status st = backend_.ApplyPod(netns, r.rules);
  const absl::Time t2 = absl::Now();
  std::string failure;
  if (!st.ok()) {
    failure = absl::StrCat("applying the pod table failed: ", st.message());
  } else {
    r.kernel.pod_tables.insert_or_assign(netns.id, netns);
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
    // Roll back what this attempt changed in the host set (addresses another pod claims stay).
    std::vector<IpAddress> undo_add = Minus(add, claimed);
    if (!undo_add.empty() || !remove.empty()) {
      absl::Status rb = backend_.UpdateHostMembers(remove, undo_add);
      if (rb.ok()) {
        r.kernel.host_members = previous;
      } else {
        spdlog::error("pod {}: rolling back the host set after a failed apply failed: {}",
                      PodName(r.desired.pod), rb.message());
        std::set<IpAddress> both(previous.begin(), previous.end());
        both.insert(r.desired.ips.begin(), r.desired.ips.end());
        r.kernel.host_members.assign(both.begin(), both.end());
      }
    }
    return FailLocked(r, failure);
  }
  // The pod moved to a new namespace (sandbox re-created): remove the table from the old one.
  for (auto it = r.kernel.pod_tables.begin(); it != r.kernel.pod_tables.end();) {
    if (it->first == netns.id) {
      ++it;
      continue;
    }
    if (absl::Status rm = backend_.RemovePod(it->second); !rm.ok()) {
      spdlog::warn("pod {}: removing the table from its previous namespace {} failed: {}",
                   PodName(r.desired.pod), it->second.path, rm.message());
      ++it;
    } else {
      it = r.kernel.pod_tables.erase(it);
    }
  }
  r.phase = v1::POD_PHASE_APPLIED;
  r.reason.clear();
  r.updated = absl::Now();
  spdlog::debug("pod {}: host set {}us, pod table {}us, read-back and cleanup {}us",
                PodName(r.desired.pod), absl::ToInt64Microseconds(t1 - t0),
                absl::ToInt64Microseconds(t2 - t1), absl::ToInt64Microseconds(r.updated - t2));
  return absl::OkStatus();
}

absl::Status Reconciler::RemoveLocked(Record& r) {
  std::set<IpAddress> claimed = ClaimedByOthersLocked(r.desired.uid(), r.kernel.host_members);
  std::vector<IpAddress> remove = Minus(r.kernel.host_members, claimed);
  if (!remove.empty()) {
    if (absl::Status st = backend_.UpdateHostMembers({}, remove); !st.ok()) {
      return absl::UnavailableError(
          absl::StrCat("removing ", JoinIps(remove), " from the host set failed: ", st.message()));
    }
  }
  r.kernel.host_members.clear();
  absl::Status first_error;
  // Through the handles: the namespace is reached even if its path is gone or names another.
  for (auto it = r.kernel.pod_tables.begin(); it != r.kernel.pod_tables.end();) {
    if (absl::Status st = backend_.RemovePod(it->second); !st.ok()) {
      if (first_error.ok()) {
        first_error = absl::UnavailableError(
            absl::StrCat("removing the pod table in ", it->second.path, " failed: ", st.message()));
      }
      ++it;
    } else {
      it = r.kernel.pod_tables.erase(it);
    }
  }
  return first_error;
}

void Reconciler::ForgetLocked(const std::string& uid) {
  auto it = records_.find(uid);
  if (it == records_.end()) {
    return;
  }
  v1::PodStatus removed = StatusOf(it->second);
  removed.set_phase(v1::POD_PHASE_REMOVED);
  removed.clear_reason();
  int64_t nanos = absl::ToUnixNanos(absl::Now());
  removed.mutable_updated()->set_seconds(nanos / 1000000000);
  removed.mutable_updated()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  records_.erase(it);
  events_.Publish(removed);
}

absl::StatusOr<std::optional<v1::Pod>> Reconciler::Unenroll(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(uid);
  if (it == records_.end()) {
    return std::nullopt;
  }
  Record& r = it->second;
  if (absl::Status st = RemoveLocked(r); !st.ok()) {
    r.removing = true;
    (void)FailLocked(r, absl::StrCat("unenroll incomplete: ", st.message()));
    PublishLocked(r);
    return absl::UnavailableError(
        absl::StrCat("unenrolling pod ", PodName(r.desired.pod), ": ", st.message()));
  }
  v1::Pod removed = r.desired.pod;
  ForgetLocked(uid);
  return removed;
}

SyncOutcome Reconciler::Sync(std::vector<SyncItem> items) {
  // Namespaces are opened before taking mu_; one that cannot be opened, or that an earlier item
  // of the request already names by another path, fails that item.
  std::vector<absl::StatusOr<netfilter::NetnsHandle>> namespaces;
  std::map<netfilter::NetnsId, const SyncItem*> by_namespace;
  namespaces.reserve(items.size());
  for (SyncItem& item : items) {
    if (item.admission.refused) {
      namespaces.push_back(absl::CancelledError("refused"));
      continue;
    }
    absl::StatusOr<netfilter::NetnsHandle> netns = OpenNetnsOf(item.pod);
    if (netns.ok()) {
      if (auto [it, fresh] = by_namespace.emplace(netns->id, &item); !fresh) {
        netns = absl::FailedPreconditionError(absl::StrCat(
            "pod ", PodName(item.pod.pod), ": network namespace ", item.pod.netns_path(),
            " is also the namespace of pod ", PodName(it->second->pod.pod), " (",
            it->second->pod.netns_path(), ") in this request"));
      }
    }
    namespaces.push_back(std::move(netns));
  }

  std::lock_guard<std::mutex> lock(mu_);
  SyncOutcome out;
  std::set<std::string> wanted;
  for (const SyncItem& item : items) {
    wanted.insert(item.pod.uid());
  }

  std::vector<std::string> unwanted;
  for (const auto& [uid, r] : records_) {
    if (wanted.count(uid) == 0) {
      unwanted.push_back(uid);
    }
  }
  for (const std::string& uid : unwanted) {
    Record& r = records_.at(uid);
    if (absl::Status st = RemoveLocked(r); !st.ok()) {
      r.removing = true;
      (void)FailLocked(r, absl::StrCat("removal by Sync incomplete: ", st.message()));
      PublishLocked(r);
      spdlog::error("sync: {}", r.reason);
      continue;
    }
    ForgetLocked(uid);
    out.removed_uids.push_back(uid);
  }

  for (size_t i = 0; i < items.size(); ++i) {
    SyncItem& item = items[i];
    if (item.admission.refused || !namespaces[i].ok()) {
      // Not enrolled (a pod already enrolled under this uid is kept as it is).
      v1::PodStatus refused;
      *refused.mutable_pod() = item.pod.pod;
      refused.set_phase(v1::POD_PHASE_FAILED);
      refused.set_reason(item.admission.refused ? item.admission.refusal
                                                : std::string(namespaces[i].status().message()));
      for (const v1::Finding& f : item.admission.findings) {
        *refused.add_findings() = f;
      }
      out.statuses.push_back(std::move(refused));
      continue;
    }
    const std::string uid = item.pod.uid();
    // The request's pods are distinct and every other pod was just removed, so there is nothing to
    // conflict with (pods may swap addresses within one Sync).
    absl::StatusOr<v1::PodStatus> st = EnrollLocked(std::move(item.pod), *std::move(namespaces[i]),
                                                    std::move(item.admission.findings), false);
    out.statuses.push_back(st.ok() ? *std::move(st) : StatusOf(records_.at(uid)));
  }

  // Host set members no pod accounts for (left by pods enrolled before a restart) go now.
  absl::StatusOr<netfilter::HostObservation> host = backend_.ObserveHost(options_.host_rules);
  if (host.ok() && host->table_present) {
    std::vector<IpAddress> extra = Minus(host->members, AllFootprintIpsLocked());
    if (!extra.empty()) {
      absl::Status st = backend_.UpdateHostMembers({}, extra);
      if (st.ok()) {
        spdlog::info("sync: removed host set members no enrolled pod accounts for: {}",
                     JoinIps(extra));
      } else {
        spdlog::error("sync: removing unaccounted host set members {} failed: {}", JoinIps(extra),
                      st.message());
      }
    }
  } else if (!host.ok()) {
    spdlog::error("sync: reading the host table back failed: {}", host.status().message());
  }
  synced_once_ = true;
  return out;
}

std::vector<v1::PodStatus> Reconciler::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::PodStatus> out;
  out.reserve(records_.size());
  for (const auto& [uid, r] : records_) {
    out.push_back(StatusOf(r));
  }
  return out;
}

absl::StatusOr<v1::PodStatus> Reconciler::Get(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(uid);
  if (it == records_.end()) {
    return absl::NotFoundError(absl::StrCat("pod uid ", uid, " is not enrolled"));
  }
  return StatusOf(it->second);
}

std::shared_ptr<StatusSubscription> Reconciler::Watch(bool initial_state) {
  std::lock_guard<std::mutex> lock(mu_);  // events are published under mu_: nothing is missed
  std::vector<v1::PodStatus> initial;
  if (initial_state) {
    for (const auto& [uid, r] : records_) {
      initial.push_back(StatusOf(r));
    }
  }
  return events_.Subscribe(std::move(initial));
}

void Reconciler::Unwatch(const std::shared_ptr<StatusSubscription>& subscription) {
  events_.Unsubscribe(subscription);
}

absl::Status Reconciler::RemoveAll() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status first_error;
  std::vector<std::string> uids;
  for (const auto& [uid, r] : records_) {
    uids.push_back(uid);
  }
  for (const std::string& uid : uids) {
    absl::Status st = RemoveLocked(records_.at(uid));
    if (st.ok()) {
      ForgetLocked(uid);
    } else if (first_error.ok()) {
      first_error = st;
    }
  }
  if (absl::Status st = backend_.RemoveHost(); !st.ok() && first_error.ok()) {
    first_error = st;
  }
  host_ready_ = false;
  return first_error;
}

}  // namespace probesnat::daemon
