#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/daemon/daemon_observer.h"
#include "agent/domain/pod_state.h"
#include "agent/policy_gate.h"
#include "metrics/http_server.h"
#include "metrics/registry.h"

namespace probesnat::daemon {

// Enroll/Unenroll/Sync latency buckets (seconds): 50 us to 5 s.
inline const std::vector<double>& EnrollDurationBuckets() {
  static const std::vector<double> kBuckets = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3,
                                               5e-3,  10e-3,  25e-3,  50e-3,  0.1,  0.25,
                                               0.5,   1,      2.5,    5};
  return kBuckets;
}

// probesnatd's Prometheus metrics (README "Metrics" lists them). The observer calls touch
// pre-resolved children only: relaxed atomic adds, no lock, no allocation (a failed call's
// result label is looked up, under the family's lock). Pods by phase and policy findings are
// computed at scrape time from the pod source.
class DaemonMetrics final : public DaemonObserver {
 public:
  // `backend` names the netfilter backend (build info, kernel transaction labels).
  static absl::StatusOr<std::unique_ptr<DaemonMetrics>> Create(const std::string& backend);
  // Where scrapes read the pods from (the pod store's List()); set before serving. Without one,
  // every phase and finding count is 0.
  void SetPodSource(std::function<std::vector<agent::PodState>()> pods) { pods_ = std::move(pods); }
  // Where scrapes read the policy snapshot's presence and age from; without one, none is loaded.
  void SetPolicySnapshotSource(std::function<agent::PolicySnapshotInfo()> snapshot) {
    snapshot_ = std::move(snapshot);
  }

  void OnRequest(Operation op, absl::StatusCode code, absl::Duration took) override;
  void OnEnrollFailure(Failure reason) override;
  void OnKernelTransaction(NetnsKind kind, absl::Duration took, bool ok) override;
  void OnDriftCheck(const ResyncReport& report) override;
  void OnStateWrite(absl::Duration took, bool ok) override;

  // At start: how many addresses the host set held before this agent touched it (left by a
  // previous run and kept), and whether our host table was already there.
  void SetReadopted(size_t host_members, bool host_table_present);

  // Prometheus text format 0.0.4.
  std::string Render() const { return registry_.Render(); }

 private:
  static constexpr size_t kOperations = 3;
  static constexpr size_t kFailures = 7;

  explicit DaemonMetrics(std::string backend) : backend_(std::move(backend)) {}
  absl::Status Register();
  std::vector<agent::PodState> Pods() const {
    return pods_ ? pods_() : std::vector<agent::PodState>{};
  }
  agent::PolicySnapshotInfo PolicySnapshot() const {
    return snapshot_ ? snapshot_() : agent::PolicySnapshotInfo{};
  }

  const std::string backend_;
  std::function<std::vector<agent::PodState>()> pods_;
  std::function<agent::PolicySnapshotInfo()> snapshot_;
  metrics::Registry registry_;
  metrics::Family<metrics::Histogram>* enroll_duration_ = nullptr;
  // Per operation: OK and the codes the service returns; others are looked up.
  std::array<metrics::Histogram*, kOperations> duration_ok_{};
  std::array<metrics::Counter*, kFailures> failures_{};
  std::array<metrics::Histogram*, 2> kernel_duration_{};  // host, pod
  std::array<metrics::Counter*, 2> kernel_failures_{};
  metrics::Histogram* state_write_duration_ = nullptr;
  metrics::Counter* state_write_failures_ = nullptr;
  metrics::Counter* drift_host_ = nullptr;
  metrics::Counter* drift_pod_ = nullptr;
  metrics::Counter* drift_retries_ = nullptr;
  metrics::Counter* drift_checks_ = nullptr;
  metrics::Gauge* readopted_members_ = nullptr;
  metrics::Gauge* restarted_ = nullptr;
};

// /metrics (the registry), /healthz (200 while the agent runs) and /readyz (200 when gRPC health
// says SERVING, 503 otherwise; the first line says which, `detail` (if any) adds lines after it)
// on `listen`.
absl::StatusOr<std::unique_ptr<metrics::HttpServer>> ServeMetrics(
    const std::string& listen, const DaemonMetrics& metrics, std::function<bool()> serving,
    std::function<std::string()> detail = nullptr);

}  // namespace probesnat::daemon
