// Start-up re-adoption: takes over what the kernel holds for the pods the journal names.
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/reconciler.h"
#include "agent/daemon/reconciler_internal.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

using reconciler_internal::JoinIps;
using reconciler_internal::PodRecord;

void Reconciler::AdoptOne(JournaledPod pod, std::map<std::string, std::vector<IpAddress>>& holders,
                          AdoptionReport& report) {
  const std::string uid = pod.spec.uid;
  const std::string path = pod.spec.netns_path;
  absl::StatusOr<netfilter::NetnsHandle> netns = backend_.OpenPodNetns(path);
  const bool same_namespace = netns.ok() && netns->id == pod.netns;

  if (pod.removing) {
    // Its removal had begun: finish it; the pod is not taken back.
    absl::Status removed = same_namespace ? backend_.RemovePod(*netns) : absl::OkStatus();
    if (removed.ok() && (journal_ == nullptr || journal_->Erase(uid).ok())) {
      ++report.removals_finished;
      Log(spdlog::level::info,
          PodRecord("start-up: removal under way at the last exit finished", pod.spec));
      return;
    }
    // Left for the drift check, as after a failed removal.
  }

  SlotPtr slot = SlotFor(uid);
  std::lock_guard<std::mutex> lock(slot->mu);
  slot->has_record = true;
  Record& r = slot->record;
  r = Record();
  r.desired = DesiredPod{.spec = std::move(pod.spec),
                         .netns = same_namespace ? *netns
                                                 : netfilter::NetnsHandle{nullptr, pod.netns, path}};
  r.rules = RulesFor(r.desired);
  r.generation = pod.generation;
  r.journaled = true;
  r.removing = pod.removing;
  r.updated = absl::Now();

  if (r.removing) {
    if (same_namespace) {
      r.pod_tables.emplace(r.desired.netns.id, r.desired.netns);
    }
    (void)FailLocked(r, "removal under way at the last exit is incomplete; the drift check retries",
                     Failure::kRemovalIncomplete);
  } else if (!same_namespace) {
    NetnsCheck gone = CheckNetns(path, pod.netns);
    if (!gone.gone()) {  // opened meanwhile after a transient error: treat as unreachable
      gone = {NetnsCheck::Kind::kUnreachable,
              absl::StrCat("network namespace ", path, " could not be opened at start-up: ",
                           netns.status().message())};
    }
    ++report.namespaces_gone;
    r.gone_kind = gone.kind;
    (void)FailLocked(r,
                     absl::StrCat(gone.message, " (found at start-up); addresses withdrawn from "
                                                "the host set; waiting for Unenroll or Sync"),
                     Failure::kNetnsGone);
    Log(spdlog::level::warn,
        PodRecord("start-up: network namespace gone; its addresses leave the host set",
                  r.desired.spec)
            .Text("ips", JoinIps(r.desired.spec.ips))
            .Error(gone.message));
  } else {
    absl::StatusOr<netfilter::PodObservation> obs = backend_.ObservePod(r.desired.netns, r.rules);
    const bool ours = obs.ok() && obs->table_present && obs->rules_match && obs->owner.has_value() &&
                      obs->owner->uid == uid;
    absl::Status st;
    if (ours) {
      ++report.adopted;
    } else {
      st = backend_.ApplyPod(r.desired.netns, r.rules, netfilter::TableOwner{uid, r.generation});
      if (st.ok()) {
        ++report.rewritten;
        Log(spdlog::level::info,
            PodRecord("start-up: pod table rewritten", r.desired.spec)
                .Text("was", !obs.ok()             ? "unreadable"
                             : !obs->table_present ? "missing"
                             : !obs->rules_match   ? "different"
                                                   : "not marked as this pod's"));
      }
    }
    if (st.ok()) {
      r.pod_tables.emplace(r.desired.netns.id, r.desired.netns);
      r.phase = agent::PodPhase::kApplied;
      holders[uid] = r.desired.spec.ips;
    } else {
      ++report.failed;
      (void)FailLocked(r, absl::StrCat("applying the pod table at start-up failed: ", st.message()));
      Log(spdlog::level::err,
          PodRecord("start-up: applying the pod table failed", r.desired.spec).Error(r.reason));
    }
  }
  PublishLocked(*slot);
}

AdoptionReport Reconciler::Adopt(std::vector<JournaledPod> pods, bool state_trusted) {
  AdoptionReport report;
  std::map<std::string, std::vector<IpAddress>> holders;
  for (JournaledPod& pod : pods) {
    AdoptOne(std::move(pod), holders, report);
  }
  absl::StatusOr<HostAdoption> host = host_.Adopt(holders, /*remove_unheld=*/state_trusted);
  if (host.ok()) {
    report.host = *std::move(host);
  } else {
    // The drift check re-adds what the applied pods hold.
    Log(spdlog::level::err,
        LogRecord("start-up: adopting the host table failed").Error(host.status().message()));
  }
  synced_once_ = state_trusted;
  adopted_.Notify();
  return report;
}

}  // namespace probesnat::daemon
