#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/daemon/daemon_config.h"
#include "agent/daemon/daemon_metrics.h"
#include "agent/daemon/daemonset_observer.h"
#include "agent/daemon/enrollment_service.h"
#include "agent/daemon/grpc_server_host.h"
#include "agent/daemon/periodic_task.h"
#include "agent/daemon/reconciler.h"
#include "agent/daemon/state_file.h"
#include "agent/daemon/status_event_hub.h"
#include "agent/daemon/timed_backend.h"
#include "agent/daemon/timed_journal.h"
#include "agent/policy_gate.h"
#include "netfilter/backend.h"

namespace probesnat::daemon {

// What the daemon is built from; all pointers must outlive the Daemon.
struct DaemonDeps {
  netfilter::Backend* backend = nullptr;           // required: the only way to the kernel
  const agent::PolicyGate* policy_gate = nullptr;  // null: the policy check finds nothing
  std::vector<grpc::Service*> extra_services;      // e.g. probesnat.v1.Policy
  std::string backend_name = "nftables";  // for the metrics
};

// probesnatd assembled: reconciler, Enrollment service, health, reflection, drift check.
class Daemon {
 public:
  // Opens the state file (refusing to start if it cannot be written), binds the unix socket (and
  // TCP), then ensures the host table, re-adopts the pods the state file names (Enroll, Unenroll
  // and Sync wait for that), and logs "probesnatd ready on <socket>". Health is SERVING once the
  // host table exists (the drift check retries). The caller holds the run-directory lock
  // (RunDirectoryLock), which also guards the state file. A failed start touches nothing in the
  // kernel.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const DaemonConfig& config, DaemonDeps deps);
  ~Daemon();

  // Graceful stop: NOT_SERVING, ends Watch streams, stops the drift check and the server (idle
  // connections at once, unary calls in flight get a grace); then, only when the start succeeded,
  // uninstalls when an uninstall was requested, removes every table with cleanup_on_exit, and
  // keeps everything otherwise (ActOnExit, exit_decision.h).
  void Stop();

  Reconciler& reconciler() { return *reconciler_; }
  int tcp_port() const { return server_->tcp_port(); }
  // The metrics endpoint's port (with metrics_listen), else 0.
  int metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }
  // What the gRPC health service reports: SERVING once the host table exists, until Stop.
  bool serving() const { return serving_.load(); }
  // The policy gate's snapshot (none without a gate), and the line /readyz and the start log show.
  agent::PolicySnapshotInfo PolicySnapshot() const;
  std::string PolicySnapshotLine() const;
  // Which sockets get the probe address now (ProbeOriginTracker::Describe), for /readyz.
  std::string ProbeOriginLine() const;

 private:
  Daemon(const DaemonConfig& config, DaemonDeps deps, std::unique_ptr<DaemonMetrics> metrics,
         std::unique_ptr<StateFile> state);
  void CheckDrift();
  void SetServing(bool serving);

  const DaemonConfig config_;
  DaemonDeps deps_;
  std::unique_ptr<DaemonMetrics> metrics_;       // null: metrics off
  std::unique_ptr<TimedBackend> timed_backend_;  // with metrics: deps_.backend, timed
  std::unique_ptr<metrics::HttpServer> metrics_http_;
  std::atomic<bool> serving_ = false;
  StatusEventHub events_;
  std::unique_ptr<StateFile> state_;
  std::unique_ptr<TimedJournal> timed_journal_;  // with metrics: state_, timed
  std::unique_ptr<ProbeOriginTracker> origin_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<EnrollmentService> enrollment_;
  std::unique_ptr<GrpcServerHost> server_;
  std::unique_ptr<PeriodicTask> drift_check_;
  std::unique_ptr<DaemonSetObserver> daemonset_;  // with uninstall_with_daemonset
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace probesnat::daemon
