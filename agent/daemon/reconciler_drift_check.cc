// The drift check: reads back what the kernel holds and repairs what differs.
#include "agent/daemon/log_format.h"
#include "agent/daemon/reconciler.h"
#include "agent/daemon/reconciler_internal.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

using reconciler_internal::JoinIps;
using reconciler_internal::PodRecord;

namespace {

int64_t MicrosSince(absl::Time start) { return absl::ToInt64Microseconds(absl::Now() - start); }

}  // namespace

void Reconciler::RepairPodLocked(Record& r, const NetnsCheck& netns, ResyncReport& report) {
  if (netns.gone()) {
    // The pod is gone without an Unenroll: withdraw its addresses from the host set so that a pod
    // that reuses them is not SNATed by mistake; keep the record (and the handle, through which
    // Unenroll removes the table if the namespace lives on) until Unenroll or Sync. Nothing is
    // written into whatever the path names now.
    const std::vector<IpAddress> withdraw = host_.HeldOnlyBy(r.desired.uid());
    if (absl::Status st = host_.Release(r.desired.uid()); !st.ok()) {
      ++report.failures;
    }
    if (r.failure != Failure::kNetnsGone || r.gone_kind != netns.kind) {
      Log(spdlog::level::warn,
          PodRecord("drift check: network namespace gone; addresses withdrawn from the host set",
                    r.desired.spec)
              .Text("ips", JoinIps(withdraw))
              .Error(netns.message));
      (void)FailLocked(r,
                       absl::StrCat(netns.message,
                                    "; addresses withdrawn from the host set; "
                                    "waiting for Unenroll or Sync"),
                       Failure::kNetnsGone);
      r.gone_kind = netns.kind;
    }
    return;
  }
  absl::StatusOr<netfilter::PodObservation> obs = backend_.ObservePod(r.desired.netns, r.rules);
  if (!obs.ok()) {
    ++report.failures;
    Log(spdlog::level::err,
        PodRecord("drift check: reading back the pod table failed", r.desired.spec)
            .Error(obs.status().message()));
    return;
  }
  if (r.phase != agent::PodPhase::kApplied) {
    ++report.retries;
    const absl::Time start = absl::Now();
    absl::Status st = ApplyLocked(r, /*trim=*/true);
    LogRecord record = PodRecord("drift check: retried applying the pod", r.desired.spec);
    record.Word("result", st.ok() ? "APPLIED" : "FAILED").LatencyUs(MicrosSince(start));
    if (!st.ok()) {
      record.Error(st.message());
    }
    Log(st.ok() ? spdlog::level::info : spdlog::level::warn, record);
  } else if (!obs->table_present || !obs->rules_match) {
    const absl::Time start = absl::Now();
    absl::Status st = ApplyLocked(r, /*trim=*/true);
    LogRecord record = PodRecord("drift check: pod table repaired", r.desired.spec);
    record.Word("was", obs->table_present ? "edited" : "deleted")
        .Word("result", st.ok() ? "APPLIED" : "FAILED")
        .LatencyUs(MicrosSince(start));
    if (st.ok()) {
      ++report.pod_repairs;
    } else {
      ++report.failures;
      record.Error(st.message());
    }
    Log(spdlog::level::warn, record);
  }
}

ResyncReport Reconciler::Resync() {
  ResyncReport report;
  struct Target {
    std::string uid;
    SlotPtr slot;
    std::string path;
    NetnsId id;
  };
  std::vector<Target> targets;
  std::set<std::string> applied_owners;
  std::set<IpAddress> accounted;
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    for (const auto& [uid, slot] : slots_) {
      const Claim& c = slot->claim;
      if (!c.active) {
        continue;
      }
      if (!c.removing && c.applied) {
        applied_owners.insert(uid);
      }
      accounted.insert(c.ips.begin(), c.ips.end());
      targets.push_back({uid, slot, c.netns_path, c.netns});
    }
  }
  HostRepair host = host_.Repair(applied_owners, synced_once_ ? &accounted : nullptr);
  report.host_repairs += host.repairs;
  report.failures += host.failures;
  // One pod at a time, under that pod's lock only: other pods are enrolled and read meanwhile.
  // The path is re-resolved without any lock held.
  for (const Target& t : targets) {
    const NetnsCheck netns = CheckNetns(t.path, t.id);
    std::lock_guard<std::mutex> lock(t.slot->mu);
    if (!t.slot->has_record) {
      continue;  // unenrolled meanwhile
    }
    Record& r = t.slot->record;
    const agent::PodPhase old_phase = r.phase;
    const std::string old_reason = r.reason;
    const bool old_removing = r.removing;
    if (r.removing) {
      if (absl::Status st = RemoveLocked(r); st.ok()) {
        if (absl::Status forgot = ForgetLocked(*t.slot); !forgot.ok()) {
          Log(spdlog::level::err,
              PodRecord("drift check: forgetting a removed pod failed", r.desired.spec)
                  .Error(forgot.message()));
          ++report.failures;
        }
      } else {
        ++report.failures;
      }
      continue;
    }
    if (r.desired.netns.id != t.id || r.desired.netns_path() != t.path) {
      continue;  // re-enrolled meanwhile: checked at the next drift check
    }
    RepairPodLocked(r, netns, report);
    if (r.phase != old_phase || r.reason != old_reason || r.removing != old_removing) {
      PublishLocked(*t.slot);
    }
  }
  return report;
}

}  // namespace probesnat::daemon
