// probesnatd: the probesnat node agent. See DaemonConfig for the options.
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "agent/daemon/daemon.h"
#include "agent/daemon/daemon_config.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/log_record.h"
#include "agent/daemon/logging.h"
#include "agent/daemon/run_directory.h"
#include "agent/daemon/tcp_token_auth.h"
#include "agent/policy/policy_service.h"
#include "agent/policy/snapshot_policy_gate.h"
#include "base/build_version.h"
#include "netfilter/nftables_backend.h"
#include "spdlog/spdlog.h"

namespace {

constexpr int kExitConfigError = 2;
constexpr int kExitStartupError = 1;

absl::StatusOr<std::unique_ptr<probesnat::netfilter::Backend>> MakeBackend() {
  return probesnat::netfilter::MakeNftablesBackend();
}

// Every enrolled pod holds its network namespace open (one descriptor per pod, see README.md):
// use every descriptor the agent is allowed, not the customary soft limit of 1024.
void RaiseOpenFileLimit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) {
    return;
  }
  const rlim_t soft = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("cannot raise the open file limit above {}: {}", soft, std::strerror(errno));
  }
}

// SIGHUP: re-reads the configuration (same flags, environment and file). log-level changes at once;
// every other option takes effect only after a restart, and a bad file changes nothing.
void Reload(const std::vector<std::string>& args, probesnat::daemon::DaemonConfig& running) {
  using namespace probesnat::daemon;
  absl::StatusOr<ConfigOutcome> outcome = ParseDaemonConfig(args, ProcessEnvironment());
  if (!outcome.ok() || outcome->exit_now) {
    spdlog::error("SIGHUP: configuration not reloaded: {}",
                  outcome.ok() ? "--help/--version" : outcome.status().message());
    return;
  }
  const DaemonConfig& next = outcome->config;
  std::vector<std::string> restart_needed;
  for (const std::string& name : ChangedOptions(running, next)) {
    if (name == "log-level") {
      spdlog::info("SIGHUP: log-level {} -> {}", spdlog::level::to_string_view(running.log_level),
                   spdlog::level::to_string_view(next.log_level));
      running.log_level = next.log_level;
      spdlog::set_level(next.log_level);
    } else {
      restart_needed.push_back(name);
    }
  }
  if (restart_needed.empty()) {
    spdlog::info("SIGHUP: configuration re-read; nothing else changed");
  } else {
    spdlog::warn("SIGHUP: {} changed; only log-level changes live, restart probesnatd to apply",
                 fmt::join(restart_needed, ", "));
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace probesnat::daemon;
  // Block the signals we handle before any thread exists, then wait for them with sigwait.
  sigset_t handled_signals;
  sigemptyset(&handled_signals);
  sigaddset(&handled_signals, SIGTERM);
  sigaddset(&handled_signals, SIGINT);
  sigaddset(&handled_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed log pipe must not kill the agent

  std::vector<std::string> args(argv, argv + argc);
  absl::StatusOr<ConfigOutcome> outcome = ParseDaemonConfig(args, ProcessEnvironment());
  if (!outcome.ok()) {
    std::fprintf(stderr, "probesnatd: %s\nRun probesnatd --help for the options.\n",
                 std::string(outcome.status().message()).c_str());
    return kExitConfigError;
  }
  if (outcome->exit_now) {
    std::fputs(outcome->output.c_str(), stdout);
    return 0;
  }
  DaemonConfig config = outcome->config;
  if (!config.listen_tcp.empty()) {
    absl::StatusOr<std::string> token = LoadBearerToken(config.listen_tcp_token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "probesnatd: %s\n", std::string(token.status().message()).c_str());
      return kExitConfigError;
    }
    config.tcp_bearer_token = *std::move(token);
  }
  ConfigureLogging(config.log_level, config.log_format);
  for (const std::string& warning : config.warnings) {
    spdlog::warn("config: {}", warning);
  }
  spdlog::info("probesnatd {} starting: {}", probesnat::BuildVersion(), DescribeConfig(config));

  // Before anything else: one agent per run directory. The loser touches neither socket nor kernel.
  absl::StatusOr<std::unique_ptr<RunDirectoryLock>> lock =
      RunDirectoryLock::Acquire(config.socket_path);
  if (!lock.ok()) {
    spdlog::error("cannot start: {}", lock.status().message());
    return kExitStartupError;
  }

  RaiseOpenFileLimit();
  absl::StatusOr<std::unique_ptr<probesnat::netfilter::Backend>> backend = MakeBackend();
  if (!backend.ok()) {
    spdlog::error("cannot open the netfilter backend: {}", backend.status().message());
    return kExitStartupError;
  }
  DaemonDeps deps;
  deps.backend = backend->get();
  // The NetworkPolicy engine: the gate Enroll/Sync consult, and the probesnat.v1.Policy service.
  probesnat::policy::AnalysisOptions policy_options;
  policy_options.probe_v4 = config.host_rules.probe_v4;
  policy_options.probe_v6 = config.host_rules.probe_v6;
  policy_options.tunnel_port = config.pod_rules.tunnel_port;
  probesnat::policy::SnapshotPolicyGate policy_gate(policy_options);
  probesnat::policy::PolicyServiceImpl policy_service(
      &policy_gate, probesnat::daemon::PolicyModeToWire(config.policy_mode));
  deps.policy_gate = &policy_gate;
  deps.extra_services.push_back(&policy_service);
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(config, std::move(deps));
  if (!daemon.ok()) {
    spdlog::error("cannot start: {}", daemon.status().message());
    return kExitStartupError;
  }
  // Pods already enrolled are HBONE destinations for the egress analysis of the next one: every
  // change of the enrolled set is pushed to the gate as it happens.
  (*daemon)->reconciler().SetEnrolledListener(
      {.upserted =
           [&policy_gate](const probesnat::agent::PodSpec& pod) { policy_gate.AddEnrolled(pod); },
       .removed = [&policy_gate](const std::string& uid) { policy_gate.RemoveEnrolled(uid); }});
  int sig = 0;
  while (sigwait(&handled_signals, &sig) == 0 && sig == SIGHUP) {
    spdlog::info("received SIGHUP: re-reading the configuration");
    Reload(args, config);
  }
  spdlog::info("received {}, shutting down", strsignal(sig));
  (*daemon)->Stop();
  (*daemon)->reconciler().SetEnrolledListener({});
  FlushRepeatSummaries(/*all=*/true);
  return 0;
}
