// The drift check: reads back what the kernel holds and repairs what differs.
#include "agent/daemon/log_format.h"
#include "agent/daemon/reconciler.h"
#include "agent/daemon/reconciler_internal.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

using netfilter::IpAddress;
using reconciler_internal::JoinIps;
using reconciler_internal::Minus;
using reconciler_internal::PodName;

void Reconciler::RepairHostLocked(ResyncReport& report) {
  absl::StatusOr<netfilter::HostObservation> host = backend_.ObserveHost(options_.host_rules);
  if (!host.ok()) {
    ++report.failures;
    spdlog::error("host table check: reading the host table back failed: {}",
                  host.status().message());
    return;
  }
  if (!host->table_present || !host->rules_match) {
    if (absl::Status st = EnsureHostLocked(); !st.ok()) {
      ++report.failures;
      spdlog::error("host table check: re-creating the host table failed: {}", st.message());
      return;
    }
    ++report.host_repairs;
    spdlog::warn("host table check: host table was {}; re-created",
                 host->table_present ? "edited" : "missing");
    host = backend_.ObserveHost(options_.host_rules);
    if (!host.ok()) {
      ++report.failures;
      return;
    }
  }
  host_ready_ = true;
  std::set<IpAddress> needed;
  for (const auto& [uid, r] : records_) {
    if (!r.removing && r.phase == v1::POD_PHASE_APPLIED) {
      needed.insert(r.kernel.host_members.begin(), r.kernel.host_members.end());
    }
  }
  std::set<IpAddress> present(host->members.begin(), host->members.end());
  std::vector<IpAddress> missing =
      Minus(std::vector<IpAddress>(needed.begin(), needed.end()), present);
  std::vector<IpAddress> extra;
  if (synced_once_) {
    extra = Minus(host->members, AllFootprintIpsLocked());
  }
  if (missing.empty() && extra.empty()) {
    return;
  }
  if (absl::Status st = backend_.UpdateHostMembers(missing, extra); !st.ok()) {
    ++report.failures;
    spdlog::error("host table check: repairing host set members failed: {}", st.message());
    return;
  }
  ++report.host_repairs;
  spdlog::warn("host table check: host set repaired (re-added {}; removed {})", JoinIps(missing),
               JoinIps(extra));
}

void Reconciler::RepairPodLocked(Record& r, const std::string& gone_reason, ResyncReport& report) {
  const std::string& netns = r.desired.netns_path();
  const v1::PodPhase old_phase = r.phase;
  const std::string old_reason = r.reason;
  if (!gone_reason.empty()) {
    // The pod is gone without an Unenroll: withdraw its addresses from the host set so that a pod
    // that reuses them is not SNATed by mistake; keep the record (and the handle, through which
    // Unenroll removes the table if the namespace lives on) until Unenroll or Sync. Nothing is
    // written into whatever the path names now.
    std::set<IpAddress> claimed = ClaimedByOthersLocked(r.desired.uid(), r.kernel.host_members);
    std::vector<IpAddress> withdraw = Minus(r.kernel.host_members, claimed);
    if (!withdraw.empty()) {
      if (absl::Status st = backend_.UpdateHostMembers({}, withdraw); !st.ok()) {
        ++report.failures;
      } else {
        r.kernel.host_members.clear();
      }
    }
    if (r.phase != v1::POD_PHASE_FAILED || r.reason.rfind(gone_reason, 0) != 0) {
      spdlog::warn("drift check: pod {}: {}; withdrew {} from the host set", PodName(r.desired.pod),
                   gone_reason, JoinIps(withdraw));
      (void)FailLocked(r, absl::StrCat(gone_reason,
                                       "; addresses withdrawn from the host set; "
                                       "waiting for Unenroll or Sync"));
    }
    if (r.phase != old_phase || r.reason != old_reason) {
      PublishLocked(r);
    }
    return;
  }
  absl::StatusOr<netfilter::PodObservation> obs = backend_.ObservePod(r.netns, r.rules);
  if (!obs.ok()) {
    ++report.failures;
    spdlog::error("drift check: reading back pod {} in {} failed: {}", PodName(r.desired.pod),
                  netns, obs.status().message());
    return;
  }
  if (r.phase != v1::POD_PHASE_APPLIED) {
    ++report.retries;
    if (absl::Status st = ApplyLocked(r); st.ok()) {
      spdlog::info("drift check: pod {} applied on retry", PodName(r.desired.pod));
    }
  } else if (!obs->table_present || !obs->rules_match) {
    spdlog::warn("drift check: pod {} table in {} was {}; re-applying", PodName(r.desired.pod),
                 netns, obs->table_present ? "edited" : "deleted");
    if (absl::Status st = ApplyLocked(r); st.ok()) {
      ++report.pod_repairs;
    } else {
      ++report.failures;
    }
  }
  if (r.phase != old_phase || r.reason != old_reason) {
    PublishLocked(r);
  }
}

ResyncReport Reconciler::Resync() {
  ResyncReport report;
  struct Target {
    std::string uid;
    std::string path;
    netfilter::NetnsId id;
  };
  std::vector<Target> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    RepairHostLocked(report);
    for (const auto& [uid, r] : records_) {
      targets.push_back({uid, r.desired.netns_path(), r.netns.id});
    }
  }
  // One pod at a time, so that an Enroll waits for at most one pod's read-back, not for all. The
  // path is re-resolved without holding mu_.
  for (const Target& t : targets) {
    const std::string gone_reason = NetnsGoneReason(t.path, t.id);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = records_.find(t.uid);
    if (it == records_.end()) {
      continue;  // unenrolled meanwhile
    }
    Record& r = it->second;
    if (r.removing) {
      if (absl::Status st = RemoveLocked(r); st.ok()) {
        ForgetLocked(t.uid);
      } else {
        ++report.failures;
      }
      continue;
    }
    if (r.netns.id != t.id || r.desired.netns_path() != t.path) {
      continue;  // re-enrolled meanwhile: checked at the next drift check
    }
    RepairPodLocked(r, gone_reason, report);
  }
  return report;
}

}  // namespace probesnat::daemon
