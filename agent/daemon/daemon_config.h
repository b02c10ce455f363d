#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/daemon/kubelet_cgroup.h"
#include "agent/daemon/logging.h"
#include "agent/daemon/peer_credentials.h"
#include "agent/daemon/policy_admission.h"
#include "netfilter/rules_spec.h"
#include "spdlog/common.h"

namespace probesnat::daemon {

// probesnatd's configuration. Every option can be given as a flag (--tunnel-port 15008), as an
// environment variable (PROBESNAT_TUNNEL_PORT=15008) or as a key of the YAML file named by --config
// (tunnel-port: 15008); flags win over the environment, which wins over the file, which wins over
// the defaults written here. DaemonOptions() says which option sets which field.
struct DaemonConfig {
  std::string config_file;
  // probe-v4 and probe-v6 set both host_rules and pod_rules. The per-pod switches of pod_rules
  // (capture on/off, enrolled families) are not options: each pod's enrollment sets them.
  netfilter::HostRules host_rules;
  netfilter::PodRules pod_rules;
  // probe-origin, kubelet-cgroup, cgroup-root: which sockets get the probe address. The daemon
  // resolves them into host_rules.origin and host_rules.kubelet_cgroup at start
  // (ProbeOriginTracker); origin-ct-mark is host_rules.origin_ct_mark.
  ProbeOriginMode probe_origin = ProbeOriginMode::kAuto;
  std::string kubelet_cgroup;  // empty: detected
  std::string cgroup_root;     // empty: the cgroup2 mount in /proc/self/mountinfo
  std::string socket_path = "/run/probesnat/probesnat.sock";
  std::string state_file;  // empty: "state" beside the socket; see StateFilePath
  std::string listen_tcp;             // empty: no TCP listener; else a loopback host:port
  std::string listen_tcp_token_file;  // required with listen_tcp; see LoadBearerToken
  std::string tcp_bearer_token;       // not an option: main reads it from listen_tcp_token_file
  // Who besides uid 0 may connect to the unix socket (allowed-uids, allowed-gids).
  AllowedPeers allowed_peers;
  spdlog::level::level_enum log_level = spdlog::level::info;
  LogFormat log_format = LogFormat::kText;
  std::string metrics_listen;  // empty: no metrics endpoint; else loopback or a node address:port
  std::vector<std::string> allowed_netns_roots = {"/run/netns", "/var/run/netns", "/proc"};
  PolicyMode policy_mode = PolicyMode::kWarn;
  bool cleanup_on_exit = false;
  // "namespace/name" of the agent's DaemonSet, asked at SIGTERM (exit_decision.h); empty: not
  // asked.
  std::string uninstall_with_daemonset;
  std::string kubernetes_api;  // empty: from KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT
  std::string kubernetes_credentials_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  absl::Duration resync_interval = absl::Seconds(5);  // zero: no periodic drift check
  bool readback_after_apply = false;                  // see ReconcilerOptions

  std::vector<std::string> warnings;  // acceptable but doubtful settings, for the log
};

// How an option's value is written: one value; a list (repeatable flag, comma-separated text, or a
// YAML sequence); or a switch (--x, --x=false; true/false in the environment and the file).
enum class OptionShape { kValue, kList, kSwitch };

// One option, stated once: its flag is --<name>, its environment variable PROBESNAT_<NAME> (upper
// case, '-' as '_'), its YAML key <name>. Command line, environment, file, --help, SIGHUP's list of
// changed options and the start log all read these rows.
struct DaemonOption {
  std::string name;
  OptionShape shape;
  std::string help;  // --help appends the default, show(DaemonConfig{})
  // Parses the option's values (exactly one unless kList) into its fields of `config`. A bad value
  // is an error that states only the problem; the caller names the option, value and origin.
  std::function<absl::Status(const std::vector<std::string>& values, DaemonConfig& config)> set;
  // The option's value in `config`, as text `set` accepts ("0x539", "5s", "1000,1001").
  std::function<std::string(const DaemonConfig& config)> show;
};

// Every option except --config, in the order they are applied and listed.
const std::vector<DaemonOption>& DaemonOptions();

// What the command line asks for: run with a configuration, or print something and exit.
struct ConfigOutcome {
  bool exit_now = false;  // --help, --version
  std::string output;     // printed to stdout when exit_now
  DaemonConfig config;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnvironment();

// Where the state file is: state_file, or "<directory of socket_path>/state" when it is empty.
std::string StateFilePath(const DaemonConfig& config);

// The options whose values differ between `a` and `b` ("log-level", "probe-v4", ...).
std::vector<std::string> ChangedOptions(const DaemonConfig& a, const DaemonConfig& b);

// Every option as name=value ("probe-v4=169.254.7.127 ... listen-tcp=none ..."), for the log.
std::string DescribeConfig(const DaemonConfig& config);

// args[0] is the program name. INVALID_ARGUMENT with a message naming the option and where its
// value came from (flag, environment variable, file key) on any bad value.
absl::StatusOr<ConfigOutcome> ParseDaemonConfig(const std::vector<std::string>& args,
                                                const EnvLookup& env);

}  // namespace probesnat::daemon
