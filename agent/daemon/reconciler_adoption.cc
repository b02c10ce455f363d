// Start-up re-adoption: takes over what the kernel holds for the pods the journal names.
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/reconciler.h"
#include "agent/daemon/reconciler_internal.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

using reconciler_internal::JoinIps;
using reconciler_internal::PodName;

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
      spdlog::info("start-up: pod {}: removal under way at the last exit finished",
                   PodName(pod.spec));
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
    spdlog::warn("start-up: pod {}: {}; its addresses {} leave the host set", PodName(r.desired.spec),
                 gone.message, JoinIps(r.desired.spec.ips));
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
        spdlog::info("start-up: pod {}: table in {} was {}; rewritten", PodName(r.desired.spec),
                     path,
                     !obs.ok()                 ? "unreadable"
                     : !obs->table_present     ? "missing"
                     : !obs->rules_match       ? "different"
                                               : "not marked as this pod's");
      }
    }
    if (st.ok()) {
      r.pod_tables.emplace(r.desired.netns.id, r.desired.netns);
      r.phase = agent::PodPhase::kApplied;
      holders[uid] = r.desired.spec.ips;
    } else {
      ++report.failed;
      (void)FailLocked(r, absl::StrCat("applying the pod table at start-up failed: ", st.message()));
      spdlog::error("start-up: pod {}: {}", PodName(r.desired.spec), r.reason);
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
    spdlog::error("start-up: {}", host.status().message());
  }
  synced_once_ = state_trusted;
  adopted_.Notify();
  return report;
}

}  // namespace probesnat::daemon
