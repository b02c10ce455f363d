#include "agent/daemon/daemon_metrics.h"

#include <chrono>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/daemon/reconciler.h"

#ifndef PROBESNAT_VERSION
#define PROBESNAT_VERSION "unknown"
#endif

namespace probesnat::daemon {
namespace {

constexpr std::array<const char*, 3> kOperationNames = {"enroll", "unenroll", "sync"};
constexpr std::array<const char*, 7> kFailureNames = {
    "invalid_argument", "policy_refused", "conflict", "netns", "kernel", "not_applied", "other"};
constexpr std::array<const char*, 2> kNetnsKindNames = {"host", "pod"};

// Kernel transactions are faster than requests: 10 us to 1 s.
const std::vector<double>& KernelDurationBuckets() {
  static const std::vector<double> kBuckets = {10e-6, 25e-6,  50e-6, 100e-6, 250e-6, 500e-6,
                                               1e-3,  2.5e-3, 5e-3,  10e-3,  25e-3,  50e-3,
                                               0.1,   0.25,   0.5,   1};
  return kBuckets;
}

// "POD_PHASE_APPLIED" -> "applied"
// A domain enum's name as a label value: "APPLIED" -> "applied".
std::string Label(absl::string_view name) { return absl::AsciiStrToLower(name); }

template <typename T>
absl::Status Assign(absl::StatusOr<T> from, T& to) {
  if (!from.ok()) {
    return from.status();
  }
  to = *from;
  return absl::OkStatus();
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

absl::StatusOr<std::unique_ptr<DaemonMetrics>> DaemonMetrics::Create(const std::string& backend) {
  std::unique_ptr<DaemonMetrics> m(new DaemonMetrics(backend));
  if (absl::Status st = m->Register(); !st.ok()) {
    return st;
  }
  return m;
}

absl::Status DaemonMetrics::Register() {
  metrics::Registry& r = registry_;
  absl::Status st;
  auto ok = [&st](absl::Status s) {
    if (st.ok()) {
      st = std::move(s);
    }
    return st.ok();
  };

  metrics::Family<metrics::Gauge>* build = nullptr;
  if (!ok(Assign(r.AddGauge("probesnat_build_info",
                            "Always 1; the agent's version and netfilter backend as labels.",
                            {"version", "backend"}),
                 build))) {
    return st;
  }
  metrics::Gauge* info = nullptr;
  if (!ok(Assign(build->With({PROBESNAT_VERSION, backend_}), info))) {
    return st;
  }
  info->Set(1);
  metrics::Family<metrics::Gauge>* start = nullptr;
  if (!ok(Assign(r.AddGauge("probesnat_start_time_seconds",
                            "When this agent process started, in seconds since the Unix epoch "
                            "(changes() of it counts restarts)."),
                 start))) {
    return st;
  }
  (*start->With({}))->Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));

  if (!ok(Assign(r.AddHistogram("probesnat_enroll_duration_seconds",
                                "Time an Enroll, Unenroll or Sync call took inside the agent "
                                "(validation, policy check, kernel), by operation and gRPC result.",
                                {"operation", "result"}, EnrollDurationBuckets()),
                 enroll_duration_))) {
    return st;
  }
  for (size_t i = 0; i < kOperations; ++i) {
    if (!ok(Assign(enroll_duration_->With({kOperationNames[i], "ok"}), duration_ok_[i]))) {
      return st;
    }
  }
  metrics::Family<metrics::Counter>* failures = nullptr;
  if (!ok(Assign(r.AddCounter("probesnat_enroll_failures_total",
                              "Enrollments that did not reach APPLIED (an Enroll refused or "
                              "failed, or one pod of a Sync), by reason.",
                              {"reason"}),
                 failures))) {
    return st;
  }
  for (size_t i = 0; i < kFailures; ++i) {
    if (!ok(Assign(failures->With({kFailureNames[i]}), failures_[i]))) {
      return st;
    }
  }

  metrics::Family<metrics::Histogram>* kernel = nullptr;
  metrics::Family<metrics::Counter>* kernel_failures = nullptr;
  if (!ok(Assign(r.AddHistogram("probesnat_kernel_transaction_duration_seconds",
                                "Time one netfilter transaction took, by the kind of network "
                                "namespace it was in (host or pod) and the backend.",
                                {"netns_kind", "backend"}, KernelDurationBuckets()),
                 kernel)) ||
      !ok(Assign(r.AddCounter("probesnat_kernel_transaction_failures_total",
                              "Netfilter transactions the kernel refused, by namespace kind and "
                              "backend.",
                              {"netns_kind", "backend"}),
                 kernel_failures))) {
    return st;
  }
  for (size_t i = 0; i < kNetnsKindNames.size(); ++i) {
    if (!ok(Assign(kernel->With({kNetnsKindNames[i], backend_}), kernel_duration_[i])) ||
        !ok(Assign(kernel_failures->With({kNetnsKindNames[i], backend_}), kernel_failures_[i]))) {
      return st;
    }
  }

  metrics::Family<metrics::Histogram>* state_write = nullptr;
  metrics::Family<metrics::Counter>* state_write_failures = nullptr;
  if (!ok(Assign(r.AddHistogram("probesnat_state_write_duration_seconds",
                                "Time one durable write of the state file took (a pod recorded "
                                "before its rules, or erased after their removal).",
                                {}, KernelDurationBuckets()),
                 state_write)) ||
      !ok(Assign(r.AddCounter("probesnat_state_write_failures_total",
                              "Durable writes of the state file that failed (the Enroll or "
                              "removal they belonged to failed with them)."),
                 state_write_failures)) ||
      !ok(Assign(state_write->With({}), state_write_duration_)) ||
      !ok(Assign(state_write_failures->With({}), state_write_failures_))) {
    return st;
  }

  // Computed at scrape time from the pod store.
  if (!ok(r.AddGaugeCallback("probesnat_pods", "Enrolled pods by phase (pending, applied, failed).",
                             {"phase"},
                             [this] {
                               std::map<std::string, double> by_phase = {
                                   {"pending", 0}, {"applied", 0}, {"failed", 0}};
                               for (const agent::PodState& s : Pods()) {
                                 by_phase[Label(agent::PodPhaseName(s.phase))] += 1;
                               }
                               std::vector<metrics::GaugeSample> out;
                               for (const auto& [phase, n] : by_phase) {
                                 out.push_back({{phase}, n});
                               }
                               return out;
                             })) ||
      !ok(r.AddGaugeCallback(
          "probesnat_policy_findings",
          "NetworkPolicy findings over the enrolled pods, by kind and severity.",
          {"kind", "severity"},
          [this] {
            std::vector<metrics::GaugeSample> out;
            for (agent::FindingKind k :
                 {agent::FindingKind::kHboneIngress, agent::FindingKind::kHboneEgress,
                  agent::FindingKind::kProbeIngress, agent::FindingKind::kNotChecked}) {
              for (agent::Severity s :
                   {agent::Severity::kInfo, agent::Severity::kWarning, agent::Severity::kError}) {
                out.push_back(
                    {{Label(agent::FindingKindName(k)), Label(agent::SeverityName(s))}, 0});
              }
            }
            for (const agent::PodState& state : Pods()) {
              for (const agent::Finding& f : state.findings) {
                out.push_back({{Label(agent::FindingKindName(f.kind)),
                                Label(agent::SeverityName(f.severity))},
                               1});
              }
            }
            return out;
          })) ||
      !ok(r.AddGaugeCallback(
          "probesnat_policy_snapshot_loaded",
          "1 when a NetworkPolicy snapshot is loaded, 0 before the first "
          "(--policy-mode enforce refuses every Enroll meanwhile).",
          {},
          [this] {
            return std::vector<metrics::GaugeSample>{{{}, PolicySnapshot().loaded ? 1.0 : 0.0}};
          })) ||
      !ok(r.AddGaugeCallback(
          "probesnat_policy_snapshot_age_seconds",
          "Seconds since the NetworkPolicy snapshot was loaded; absent while none is.", {}, [this] {
            agent::PolicySnapshotInfo info = PolicySnapshot();
            if (!info.loaded) {
              return std::vector<metrics::GaugeSample>{};
            }
            return std::vector<metrics::GaugeSample>{
                {{}, absl::ToDoubleSeconds(absl::Now() - info.loaded_at)}};
          }))) {
    return st;
  }

  metrics::Family<metrics::Counter>* drift = nullptr;
  metrics::Family<metrics::Counter>* checks = nullptr;
  metrics::Family<metrics::Counter>* retries = nullptr;
  if (!ok(Assign(r.AddCounter("probesnat_drift_repairs_total",
                              "Repairs by the drift check of tables someone deleted or edited, by "
                              "object (host: table re-created or set members fixed; pod: a pod "
                              "table re-applied).",
                              {"object"}),
                 drift)) ||
      !ok(Assign(r.AddCounter("probesnat_drift_checks_total", "Drift checks run."), checks)) ||
      !ok(Assign(
          r.AddCounter("probesnat_drift_retries_total", "FAILED pods the drift check tried again."),
          retries))) {
    return st;
  }
  if (!ok(Assign(drift->With({"host"}), drift_host_)) ||
      !ok(Assign(drift->With({"pod"}), drift_pod_)) ||
      !ok(Assign(checks->With({}), drift_checks_)) ||
      !ok(Assign(retries->With({}), drift_retries_))) {
    return st;
  }

  metrics::Family<metrics::Gauge>* readopted = nullptr;
  metrics::Family<metrics::Gauge>* restarted = nullptr;
  if (!ok(Assign(r.AddGauge("probesnat_readopted_host_members",
                            "Pod addresses the node's set held when this agent started (left by "
                            "a previous run and kept until the control plane re-enrolls)."),
                 readopted)) ||
      !ok(Assign(r.AddGauge("probesnat_restarted",
                            "1 if this agent started over a host table a previous run left "
                            "(a restart that re-adopted kernel state), else 0."),
                 restarted))) {
    return st;
  }
  if (!ok(Assign(readopted->With({}), readopted_members_)) ||
      !ok(Assign(restarted->With({}), restarted_))) {
    return st;
  }
  return st;
}

void DaemonMetrics::OnRequest(Operation op, absl::StatusCode code, absl::Duration took) {
  const size_t i = static_cast<size_t>(op);
  if (code == absl::StatusCode::kOk) {
    duration_ok_[i]->Observe(Seconds(took));
    return;
  }
  absl::StatusOr<metrics::Histogram*> h = enroll_duration_->With(
      {kOperationNames[i], absl::AsciiStrToLower(absl::StatusCodeToString(code))});
  if (h.ok()) {
    (*h)->Observe(Seconds(took));
  }
}

void DaemonMetrics::OnEnrollFailure(Failure reason) {
  failures_[static_cast<size_t>(reason)]->Inc();
}

void DaemonMetrics::OnKernelTransaction(NetnsKind kind, absl::Duration took, bool ok) {
  const size_t i = static_cast<size_t>(kind);
  kernel_duration_[i]->Observe(Seconds(took));
  if (!ok) {
    kernel_failures_[i]->Inc();
  }
}

void DaemonMetrics::OnStateWrite(absl::Duration took, bool ok) {
  state_write_duration_->Observe(Seconds(took));
  if (!ok) {
    state_write_failures_->Inc();
  }
}

void DaemonMetrics::OnDriftCheck(const ResyncReport& report) {
  drift_checks_->Inc();
  drift_host_->Inc(report.host_repairs);
  drift_pod_->Inc(report.pod_repairs);
  drift_retries_->Inc(report.retries);
}

void DaemonMetrics::SetReadopted(size_t host_members, bool host_table_present) {
  readopted_members_->Set(static_cast<double>(host_members));
  restarted_->Set(host_table_present ? 1 : 0);
}

absl::StatusOr<std::unique_ptr<metrics::HttpServer>> ServeMetrics(
    const std::string& listen, const DaemonMetrics& metrics, std::function<bool()> serving,
    std::function<std::string()> detail) {
  metrics::HttpServerOptions options;
  options.listen = listen;
  options.routes["/metrics"] = [&metrics] {
    return metrics::HttpResponse{
        .status = 200, .content_type = metrics::kTextFormatContentType, .body = metrics.Render()};
  };
  options.routes["/healthz"] = [] { return metrics::HttpResponse{.body = "ok\n"}; };
  options.routes["/readyz"] = [serving, detail] {
    const std::string more = detail ? detail() : std::string();
    return serving() ? metrics::HttpResponse{.body = "SERVING\n" + more}
                     : metrics::HttpResponse{.status = 503, .body = "NOT_SERVING\n" + more};
  };
  return metrics::HttpServer::Start(std::move(options));
}

}  // namespace probesnat::daemon
