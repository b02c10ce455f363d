#include "agent/daemon/daemon.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/daemon/exit_decision.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/log_record.h"
#include "agent/daemon/run_directory.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

// How long shutdown waits for unary calls in flight; idle connections and streams end at once.
constexpr absl::Duration kShutdownGrace = absl::Seconds(2);

void LogLoadedState(const std::string& path, const LoadedState& loaded) {
  for (const std::string& w : loaded.warnings) {
    spdlog::warn("state file {}: {}", path, w);
  }
  for (const std::string& p : loaded.problems) {
    spdlog::error("state file {}: {}", path, p);
  }
  if (!loaded.existed) {
    spdlog::info("state file {}: none yet; host set members a previous run left are kept until "
                 "the first Sync",
                 path);
  } else if (!loaded.trustworthy) {
    spdlog::error("state file {} is damaged{}; re-adopting the {} pods it still names; host set "
                  "members no pod accounts for are kept until the first Sync",
                  path,
                  loaded.damaged_path.empty() ? ""
                                              : absl::StrCat(" (moved to ", loaded.damaged_path, ")"),
                  loaded.pods.size());
  } else {
    spdlog::info("state file {}: {} pods to re-adopt", path, loaded.pods.size());
  }
}

ExitPaths ExitPathsOf(const DaemonConfig& config) {
  return {.run_dir = ParentDirectory(config.socket_path), .state_file = StateFilePath(config)};
}

// How long the API may take to answer, at start and at SIGTERM (the grace period is ~10 s).
constexpr absl::Duration kKubernetesApiTimeout = absl::Seconds(2);

// The observer of uninstall-with-daemonset, armed; null when the API cannot be reached at all.
std::unique_ptr<DaemonSetObserver> WatchOwnDaemonSet(const DaemonConfig& config) {
  absl::StatusOr<KubernetesApi> api =
      InClusterApi(config.kubernetes_api, config.kubernetes_credentials_dir);
  if (!api.ok()) {
    spdlog::error(
        "uninstall-with-daemonset {}: {}; only probesnatctl uninstall decides an "
        "uninstall",
        config.uninstall_with_daemonset, api.status().message());
    return nullptr;
  }
  const size_t slash = config.uninstall_with_daemonset.find('/');
  auto observer = std::make_unique<DaemonSetObserver>(
      *std::move(api), config.uninstall_with_daemonset.substr(0, slash),
      config.uninstall_with_daemonset.substr(slash + 1), kKubernetesApiTimeout);
  DaemonSetObserver::Observation armed = observer->Arm();
  if (armed.state == DaemonSetObserver::State::kPresent) {
    spdlog::info(
        "uninstall-with-daemonset: {}; SIGTERM uninstalls if it is gone or being deleted "
        "by then",
        armed.detail);
  } else {
    spdlog::error(
        "uninstall-with-daemonset: {}; not seen at start, so the API is not asked at "
        "SIGTERM (only probesnatctl uninstall decides an uninstall)",
        armed.detail);
  }
  return observer;
}

}  // namespace

Daemon::Daemon(const DaemonConfig& config, DaemonDeps deps, std::unique_ptr<DaemonMetrics> metrics,
               std::unique_ptr<StateFile> state)
    : config_(config), deps_(std::move(deps)), metrics_(std::move(metrics)), state_(std::move(state)) {
  ReconcilerOptions options;
  options.host_rules = config_.host_rules;
  options.pod_rules = config_.pod_rules;
  options.readback_after_apply = config_.readback_after_apply;
  netfilter::Backend* backend = deps_.backend;
  if (metrics_ != nullptr) {
    timed_backend_ = std::make_unique<TimedBackend>(*deps_.backend, *metrics_);
    backend = timed_backend_.get();
  }
  PodJournal* journal = state_.get();
  if (metrics_ != nullptr && journal != nullptr) {
    timed_journal_ = std::make_unique<TimedJournal>(*journal, *metrics_);
    journal = timed_journal_.get();
  }
  reconciler_ = std::make_unique<Reconciler>(*backend, options, events_, journal);
  if (metrics_ != nullptr) {
    metrics_->SetPodSource([r = reconciler_.get()] { return r->List(); });
    metrics_->SetPolicySnapshotSource([gate = deps_.policy_gate] {
      return gate != nullptr ? gate->Snapshot() : agent::PolicySnapshotInfo{};
    });
  }
  EnrollmentServiceOptions service;
  service.validation.allowed_netns_roots = config_.allowed_netns_roots;
  service.validation.probe_addresses = {config_.host_rules.probe_v4, config_.host_rules.probe_v6};
  // Validation opens each pod's namespace the way the backend will use it: resolved once beneath
  // its root without following symlinks, the host namespace refused; the handle travels with the
  // pod to the reconciler.
  service.validation.open_netns = [backend](const std::string& root, const std::string& path) {
    return backend->OpenPodNetnsBeneath(root, path);
  };
  service.policy_mode = config_.policy_mode;
  service.policy_gate = deps_.policy_gate;
  service.observer = metrics_.get();
  enrollment_ = std::make_unique<EnrollmentService>(*reconciler_, service);
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const DaemonConfig& config, DaemonDeps deps) {
  if (deps.backend == nullptr) {
    return absl::InvalidArgumentError("no netfilter backend");
  }
  std::unique_ptr<DaemonMetrics> metrics;
  if (!config.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<DaemonMetrics>> created =
        DaemonMetrics::Create(deps.backend_name);
    if (!created.ok()) {
      return created.status();
    }
    metrics = *std::move(created);
  }
  const std::string state_path = StateFilePath(config);
  if (absl::Status st = MakeDirectories(ParentDirectory(state_path)); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("state-file: ", st.message()));
  }
  LoadedState loaded;
  absl::StatusOr<std::unique_ptr<StateFile>> state = StateFile::Open(state_path, &loaded);
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat("state-file: ", state.status().message()));
  }
  LogLoadedState(state_path, loaded);
  // The probe origin is decided before anything is served: the host table is written with it.
  auto origin = std::make_unique<ProbeOriginTracker>(ProbeOriginTracker::Options{
      .mode = config.probe_origin,
      .kubelet_cgroup = config.kubelet_cgroup,
      .cgroup_root = config.cgroup_root,
  });
  DaemonConfig resolved = config;
  resolved.host_rules = origin->Start(config.host_rules);
  std::unique_ptr<Daemon> d(
      new Daemon(resolved, std::move(deps), std::move(metrics), *std::move(state)));
  d->origin_ = std::move(origin);
  // Sockets first: a start that cannot serve must not have touched the kernel.
  std::vector<grpc::Service*> services = {d->enrollment_.get()};
  services.insert(services.end(), d->deps_.extra_services.begin(), d->deps_.extra_services.end());
  ServerEndpoints endpoints;
  endpoints.socket_path = config.socket_path;
  endpoints.allowed_peers = config.allowed_peers;
  endpoints.listen_tcp = config.listen_tcp;
  endpoints.tcp_bearer_token = config.tcp_bearer_token;
  endpoints.health_services = {v1::Enrollment::service_full_name()};
  absl::StatusOr<std::unique_ptr<GrpcServerHost>> server =
      GrpcServerHost::Start(endpoints, services);
  if (!server.ok()) {
    return server.status();
  }
  d->server_ = *std::move(server);
  if (d->metrics_ != nullptr) {
    absl::StatusOr<std::unique_ptr<metrics::HttpServer>> http = ServeMetrics(
        config.metrics_listen, *d->metrics_, [raw = d.get()] { return raw->serving(); },
        [raw = d.get()] {
          return raw->PolicySnapshotLine() + "\n" + raw->ProbeOriginLine() + "\n";
        });
    if (!http.ok()) {
      return absl::Status(http.status().code(),
                          absl::StrCat("metrics-listen: ", http.status().message()));
    }
    d->metrics_http_ = *std::move(http);
    // What a previous run left in the node's set (read before anything is written).
    absl::StatusOr<netfilter::HostObservation> before =
        d->deps_.backend->ObserveHost(config.host_rules);
    if (before.ok()) {
      d->metrics_->SetReadopted(before->members.size(), before->table_present);
    }
  }
  d->started_ = true;
  DiscardStaleUninstallFiles(ExitPathsOf(config));
  if (!config.uninstall_with_daemonset.empty()) {
    d->daemonset_ = WatchOwnDaemonSet(config);
  }
  if (absl::Status st = d->reconciler_->EnsureHost(); st.ok()) {
    spdlog::info("host table ensured (probe addresses {} and {})",
                 config.host_rules.probe_v4.ToString(), config.host_rules.probe_v6.ToString());
  } else {
    spdlog::error("creating the host table failed: {}; NOT_SERVING until a retry succeeds",
                  st.message());
  }
  const size_t journaled = loaded.pods.size();
  const absl::Time adopt_start = absl::Now();
  AdoptionReport adopted =
      d->reconciler_->Adopt(std::move(loaded.pods), loaded.existed && loaded.trustworthy);
  spdlog::info(
      "re-adopted {} pods in {} ms: {} tables kept as they were, {} rewritten, {} failed, {} with "
      "their namespace gone, {} removals finished; host set: {} members kept, {} written, {} "
      "removed (no owner left), {} left until Sync",
      journaled, absl::ToInt64Milliseconds(absl::Now() - adopt_start), adopted.adopted,
      adopted.rewritten, adopted.failed, adopted.namespaces_gone, adopted.removals_finished,
      adopted.host.kept, adopted.host.written, adopted.host.removed.size(),
      adopted.host.left.size());
  for (const netfilter::HostMember& m : adopted.host.removed) {
    spdlog::info("start-up: removed host set member {} (owner {}): no enrolled pod owns it",
                 m.ip.ToString(), m.owner.empty() ? "none" : m.owner);
  }
  for (const netfilter::HostMember& m : adopted.host.left) {
    spdlog::warn("start-up: host set member {} (owner {}) is kept, its pod unknown, until a Sync "
                 "says which pods are desired",
                 m.ip.ToString(), m.owner.empty() ? "none" : m.owner);
  }
  d->SetServing(d->reconciler_->host_ready());
  if (config.resync_interval > absl::ZeroDuration()) {
    d->drift_check_ = std::make_unique<PeriodicTask>(config.resync_interval,
                                                     [raw = d.get()] { raw->CheckDrift(); });
  }
  if (!config.listen_tcp.empty()) {
    spdlog::info("also serving on {} (port {}, bearer token required)", config.listen_tcp,
                 d->server_->tcp_port());
  }
  if (d->metrics_http_ != nullptr) {
    spdlog::info("metrics on http://{}/metrics (port {}; /healthz, /readyz)", config.metrics_listen,
                 d->metrics_http_->port());
  }
  spdlog::info("unix socket callers allowed: {}", endpoints.allowed_peers.Describe());
  // Enforce mode without a snapshot refuses every Enroll until one is loaded: worth a warning.
  const bool refusing = config.policy_mode == PolicyMode::kEnforce && !d->PolicySnapshot().loaded;
  spdlog::log(refusing ? spdlog::level::warn : spdlog::level::info, "{}", d->PolicySnapshotLine());
  spdlog::info("probesnatd ready on {}", config.socket_path);
  return d;
}

Daemon::~Daemon() { Stop(); }

agent::PolicySnapshotInfo Daemon::PolicySnapshot() const {
  return deps_.policy_gate != nullptr ? deps_.policy_gate->Snapshot() : agent::PolicySnapshotInfo{};
}

std::string Daemon::PolicySnapshotLine() const {
  return DescribePolicySnapshot(PolicySnapshot(), config_.policy_mode, absl::Now());
}

void Daemon::SetServing(bool serving) {
  serving_.store(serving);
  server_->SetServing(serving);
}

std::string Daemon::ProbeOriginLine() const {
  return origin_ != nullptr ? origin_->Describe() : std::string();
}

void Daemon::CheckDrift() {
  // The kubelet's cgroup first: re-created (new id) or moved (new path), the host rule follows in
  // one transaction that keeps the members.
  if (origin_ != nullptr) {
    if (std::optional<netfilter::HostRules> next = origin_->Recheck(reconciler_->host_rules())) {
      if (absl::Status st = reconciler_->ReplaceHostRules(*next); st.ok()) {
        spdlog::info("host table re-programmed: {}", origin_->Describe());
      } else {
        spdlog::error("re-programming the host table for the kubelet cgroup failed: {}; retried "
                      "at the next drift check",
                      st.message());
      }
    }
  }
  ResyncReport report = reconciler_->Resync();
  if (report.host_repairs + report.pod_repairs + report.retries + report.failures > 0) {
    Log(spdlog::level::info, LogRecord("drift check:")
                                 .Number("host_repairs", report.host_repairs)
                                 .Number("pod_repairs", report.pod_repairs)
                                 .Number("retries", report.retries)
                                 .Number("failures", report.failures));
  }
  FlushRepeatSummaries();
  if (metrics_ != nullptr) {
    metrics_->OnDriftCheck(report);
  }
  SetServing(reconciler_->host_ready());
}

void Daemon::Stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (server_ != nullptr) {
    SetServing(false);
  }
  events_.Close();
  drift_check_.reset();
  if (server_ != nullptr) {
    server_->Shutdown(kShutdownGrace);
  }
  metrics_http_.reset();
  if (!started_) {
    return;  // a failed start touched nothing in the kernel and removes nothing
  }
  ActOnExit(*reconciler_, ExitPathsOf(config_), config_.cleanup_on_exit, daemonset_.get());
}

}  // namespace probesnat::daemon
