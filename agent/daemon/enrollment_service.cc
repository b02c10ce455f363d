#include "agent/daemon/enrollment_service.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/daemon/finding_log.h"
#include "agent/daemon/grpc_status.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/log_record.h"
#include "agent/domain/error_reason.h"
#include "agent/domain/wire.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

// Microseconds since `start`, for the request log.
class Stopwatch {
 public:
  int64_t micros() const { return absl::ToInt64Microseconds(elapsed()); }
  absl::Duration elapsed() const {
    return absl::FromChrono(std::chrono::steady_clock::now() - start_);
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

std::string Ips(const v1::Pod& pod) { return absl::StrJoin(pod.ips(), ","); }
std::string Ips(const agent::PodSpec& pod) {
  return absl::StrJoin(pod.ips, ",", [](std::string* out, const IpAddress& ip) {
    absl::StrAppend(out, ip.ToString());
  });
}
std::string PodName(const v1::Pod& pod) { return absl::StrCat(pod.namespace_(), "/", pod.name()); }
std::string PhaseName(agent::PodPhase phase) {
  return v1::PodPhase_Name(agent::PhaseToWire(phase));
}

// Why a request's policy mode was not used, for the log and a refusal; empty when it was.
std::string IgnoredModeNote(v1::PolicyMode requested, PolicyMode configured) {
  if (!IsLooserThanConfigured(requested, configured)) {
    return "";
  }
  return absl::StrCat(
      "the request asked for policy mode ", PolicyModeName(*RequestedPolicyMode(requested)),
      ", looser than the agent's --policy-mode ", PolicyModeName(configured),
      ", which requests may only tighten; checked in mode ", PolicyModeName(configured));
}

}  // namespace

EnrollmentService::EnrollmentService(Reconciler& reconciler, EnrollmentServiceOptions options)
    : reconciler_(reconciler), options_(std::move(options)) {}

void EnrollmentService::Observe(DaemonObserver::Operation op, const absl::Status& st,
                                absl::Duration took) const {
  if (options_.observer != nullptr) {
    options_.observer->OnRequest(op, st.code(), took);
  }
}

void EnrollmentService::ObserveFailure(DaemonObserver::Failure reason) const {
  if (options_.observer != nullptr) {
    options_.observer->OnEnrollFailure(reason);
  }
}

grpc::Status EnrollmentService::Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                                       v1::EnrollResponse* resp) {
  Stopwatch watch;
  const v1::Pod& pod = req->pod();
  auto log = [&](const absl::Status& st, const std::string& result, size_t findings) {
    Observe(DaemonObserver::Operation::kEnroll, st, watch.elapsed());
    LogRecord record("enroll");
    record.Uid(pod.uid())
        .Pod(PodName(pod))
        .Text("ips", Ips(pod))
        .Netns(pod.netns_path())
        .Word("result", result)
        .Number("findings", static_cast<int64_t>(findings))
        .LatencyUs(watch.micros());
    if (!st.ok()) {
      record.Error(st.message());
    }
    Log(st.ok() ? spdlog::level::info : spdlog::level::warn, record);
  };
  absl::StatusOr<DesiredPod> desired = ValidatePod("pod", pod, options_.validation);
  if (!desired.ok()) {
    ObserveFailure(FailureOfValidationError(desired.status().code()));
    log(desired.status(), absl::StatusCodeToString(desired.status().code()), 0);
    return ToGrpcStatus(desired.status());
  }
  PolicyMode mode = ResolvePolicyMode(req->policy_mode(), options_.policy_mode);
  const std::string ignored = IgnoredModeNote(req->policy_mode(), options_.policy_mode);
  if (!ignored.empty()) {
    Log(spdlog::level::warn,
        LogRecord("enroll: policy mode ignored").Uid(pod.uid()).Error(ignored));
  }
  Admission admission = AdmitPod(desired->spec, mode, options_.policy_gate);
  LogFindings("enroll", desired->spec.uid, desired->spec.Key(), admission.findings);
  if (admission.refused) {
    absl::Status refused = agent::WithErrorReason(
        absl::FailedPreconditionError(ignored.empty()
                                          ? admission.refusal
                                          : absl::StrCat(admission.refusal, "\n(", ignored, ")")),
        agent::ErrorReason::kPolicyRefused);
    ObserveFailure(DaemonObserver::Failure::kPolicyRefused);
    log(refused, "REFUSED_BY_POLICY", admission.findings.size());
    return ToGrpcStatus(refused, ctx);
  }
  size_t findings = admission.findings.size();
  absl::StatusOr<agent::PodState> state =
      reconciler_.Enroll(*std::move(desired), std::move(admission.findings));
  if (!state.ok()) {
    ObserveFailure(FailureOfEnrollError(state.status().code()));
    log(state.status(), absl::StatusCodeToString(state.status().code()), findings);
    return ToGrpcStatus(state.status(), ctx);
  }
  log(absl::OkStatus(), PhaseName(state->phase), findings);
  *resp->mutable_status() = agent::StateToWire(*state);
  return grpc::Status::OK;
}

grpc::Status EnrollmentService::Unenroll(grpc::ServerContext* ctx, const v1::UnenrollRequest* req,
                                         v1::UnenrollResponse* resp) {
  Stopwatch watch;
  absl::Status valid = ValidateUid("uid", req->uid());
  absl::StatusOr<std::optional<agent::PodSpec>> removed =
      valid.ok() ? reconciler_.Unenroll(req->uid())
                 : absl::StatusOr<std::optional<agent::PodSpec>>(valid);
  const absl::Status& st = removed.status();
  Observe(DaemonObserver::Operation::kUnenroll, st, watch.elapsed());
  if (!st.ok()) {
    Log(spdlog::level::warn, LogRecord("unenroll")
                                 .Uid(req->uid())
                                 .Word("result", absl::StatusCodeToString(st.code()))
                                 .LatencyUs(watch.micros())
                                 .Error(st.message()));
    return ToGrpcStatus(st);
  }
  if (removed->has_value()) {
    const agent::PodSpec& pod = **removed;
    Log(spdlog::level::info, LogRecord("unenroll")
                                 .Uid(pod.uid)
                                 .Pod(pod.Key())
                                 .Text("ips", Ips(pod))
                                 .Netns(pod.netns_path)
                                 .Word("result", "REMOVED")
                                 .LatencyUs(watch.micros()));
  } else {
    Log(spdlog::level::info, LogRecord("unenroll")
                                 .Uid(req->uid())
                                 .Word("result", "NOT_ENROLLED")
                                 .LatencyUs(watch.micros()));
  }
  resp->set_was_enrolled(removed->has_value());
  return grpc::Status::OK;
}

grpc::Status EnrollmentService::Sync(grpc::ServerContext* ctx, const v1::SyncRequest* req,
                                     v1::SyncResponse* resp) {
  Stopwatch watch;
  std::vector<DesiredPod> pods;
  absl::Status invalid = ValidateSyncSize(req->pods_size(), options_.validation.limits);
  // One look at the node's addresses for the whole request.
  ValidationOptions validation = options_.validation;
  if (invalid.ok() && validation.node_addresses) {
    absl::StatusOr<std::vector<netfilter::InterfaceAddress>> own = validation.node_addresses();
    validation.node_addresses = [own] { return own; };
  }
  if (invalid.ok()) {
    pods.reserve(req->pods_size());
  }
  for (int i = 0; i < req->pods_size() && invalid.ok(); ++i) {
    absl::StatusOr<DesiredPod> pod =
        ValidatePod(absl::StrCat("pods[", i, "]"), req->pods(i), validation);
    if (pod.ok()) {
      pods.push_back(*std::move(pod));
    } else {
      invalid = pod.status();
    }
  }
  if (invalid.ok()) {
    invalid = ValidateDistinctPods(pods);
  }
  if (!invalid.ok()) {
    ObserveFailure(FailureOfValidationError(invalid.code()));
    Observe(DaemonObserver::Operation::kSync, invalid, watch.elapsed());
    Log(spdlog::level::warn, LogRecord("sync")
                                 .Number("pods", req->pods_size())
                                 .Word("result", absl::StatusCodeToString(invalid.code()))
                                 .LatencyUs(watch.micros())
                                 .Error(invalid.message()));
    return ToGrpcStatus(invalid);
  }
  PolicyMode mode = ResolvePolicyMode(req->policy_mode(), options_.policy_mode);
  if (std::string ignored = IgnoredModeNote(req->policy_mode(), options_.policy_mode);
      !ignored.empty()) {
    Log(spdlog::level::warn, LogRecord("sync: policy mode ignored").Error(ignored));
  }
  std::vector<SyncItem> items;
  items.reserve(pods.size());
  for (DesiredPod& pod : pods) {
    Admission admission = AdmitPod(pod.spec, mode, options_.policy_gate);
    LogFindings("sync:", pod.spec.uid, pod.spec.Key(), admission.findings);
    items.push_back(SyncItem{std::move(pod), std::move(admission)});
  }
  std::vector<bool> refused;
  refused.reserve(items.size());
  for (const SyncItem& item : items) {
    refused.push_back(item.admission.refused);
  }
  SyncOutcome outcome = reconciler_.Sync(std::move(items));
  Observe(DaemonObserver::Operation::kSync, absl::OkStatus(), watch.elapsed());
  int applied = 0;
  for (size_t i = 0; i < outcome.states.size(); ++i) {
    const agent::PodState& s = outcome.states[i];
    const agent::PodSpec& pod = s.spec;
    const bool ok = s.phase == agent::PodPhase::kApplied;
    if (!ok) {
      ObserveFailure(i < refused.size() && refused[i] ? DaemonObserver::Failure::kPolicyRefused
                                                      : DaemonObserver::Failure::kNotApplied);
    }
    LogRecord record("sync:");
    record.Uid(pod.uid)
        .Pod(pod.Key())
        .Text("ips", Ips(pod))
        .Netns(pod.netns_path)
        .Word("result", PhaseName(s.phase));
    if (!s.reason.empty()) {
      record.Error(s.reason);
    }
    Log(ok ? spdlog::level::info : spdlog::level::warn, record);
    applied += ok;
    *resp->add_statuses() = agent::StateToWire(s);
  }
  for (std::string& uid : outcome.removed_uids) {
    Log(spdlog::level::info, LogRecord("sync:").Uid(uid).Word("result", "REMOVED"));
    resp->add_removed_uids(std::move(uid));
  }
  Log(spdlog::level::info, LogRecord("sync")
                               .Number("pods", req->pods_size())
                               .Number("applied", applied)
                               .Number("failed", req->pods_size() - applied)
                               .Number("removed", resp->removed_uids_size())
                               .LatencyUs(watch.micros()));
  return grpc::Status::OK;
}

grpc::Status EnrollmentService::List(grpc::ServerContext* ctx, const v1::ListRequest* req,
                                     v1::ListResponse* resp) {
  for (const agent::PodState& s : reconciler_.List()) {
    *resp->add_pods() = agent::StateToWire(s);
  }
  return grpc::Status::OK;
}

grpc::Status EnrollmentService::Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                                    v1::PodStatus* resp) {
  if (absl::Status st = ValidateUid("uid", req->uid()); !st.ok()) {
    return ToGrpcStatus(st);
  }
  absl::StatusOr<agent::PodState> state = reconciler_.Get(req->uid());
  if (!state.ok()) {
    return ToGrpcStatus(state.status());
  }
  *resp = agent::StateToWire(*state);
  return grpc::Status::OK;
}

grpc::Status EnrollmentService::Watch(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                                      grpc::ServerWriter<v1::Event>* writer) {
  struct StreamSlot {
    std::atomic<int>& open;
    ~StreamSlot() { open.fetch_sub(1); }
  } slot{watch_streams_};
  if (watch_streams_.fetch_add(1) >= options_.max_watch_streams) {
    spdlog::warn("Watch refused: {} streams are open already (at most {})",
                 options_.max_watch_streams, options_.max_watch_streams);
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("too many Watch streams are open (at most ",
                                     options_.max_watch_streams, "); try again later"));
  }
  std::shared_ptr<StatusSubscription> sub = reconciler_.Watch(req->initial_state());
  struct Unwatch {
    Reconciler& r;
    std::shared_ptr<StatusSubscription>& s;
    ~Unwatch() { r.Unwatch(s); }
  } unwatch{reconciler_, sub};
  spdlog::debug("watch started (initial_state={})", req->initial_state());
  agent::PodState state;
  while (!ctx->IsCancelled()) {
    switch (sub->Pop(options_.watch_poll, &state)) {
      case StatusSubscription::Next::kEvent: {
        v1::Event event;
        *event.mutable_status() = agent::StateToWire(state);
        if (!writer->Write(event)) {
          return grpc::Status::OK;  // the client went away
        }
        break;
      }
      case StatusSubscription::Next::kTimeout:
        break;
      case StatusSubscription::Next::kClosed:
        return grpc::Status::OK;  // the agent is shutting down
      case StatusSubscription::Next::kOverflowed:
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "this watcher fell too far behind and missed events; watch again "
                            "with initial_state to resynchronise");
    }
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
}

}  // namespace probesnat::daemon
