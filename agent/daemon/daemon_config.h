#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/daemon/policy_admission.h"
#include "netfilter/ip_address.h"
#include "netfilter/rules_spec.h"
#include "spdlog/common.h"

namespace probesnat::daemon {

// probesnatd's configuration. Every option can be given as a flag (--tunnel-port 15008), as an
// environment variable (PROBESNAT_TUNNEL_PORT=15008) or as a key of the YAML file named by --config
// (tunnel-port: 15008); flags win over the environment, which wins over the file, which wins over
// the defaults.
struct DaemonConfig {
  std::string config_file;
  netfilter::IpAddress probe_v4 = netfilter::HostRules{}.probe_v4;
  netfilter::IpAddress probe_v6 = netfilter::HostRules{}.probe_v6;
  uint16_t tunnel_port = netfilter::PodRules{}.tunnel_port;
  uint16_t inbound_port = netfilter::PodRules{}.inbound_capture_port;
  uint16_t outbound_port = netfilter::PodRules{}.outbound_capture_port;
  uint32_t proxy_mark = netfilter::PodRules{}.proxy_mark;
  uint32_t proxy_mask = netfilter::PodRules{}.proxy_mask;
  uint32_t connection_mark = netfilter::PodRules{}.connection_mark;
  uint32_t connection_mask = netfilter::PodRules{}.connection_mask;
  std::string socket_path = "/run/probesnat/probesnat.sock";
  std::string listen_tcp;             // empty: no TCP listener; else a loopback host:port
  std::string listen_tcp_token_file;  // required with listen_tcp; see LoadBearerToken
  std::string tcp_bearer_token;       // not an option: main reads it from listen_tcp_token_file
  // Besides uid 0, who may connect to the unix socket (SO_PEERCRED uid, or primary/supplementary
  // gid).
  std::vector<uint32_t> allowed_uids;
  std::vector<uint32_t> allowed_gids;
  spdlog::level::level_enum log_level = spdlog::level::info;
  std::vector<std::string> allowed_netns_roots = {"/run/netns", "/var/run/netns", "/proc"};
  PolicyMode policy_mode = PolicyMode::kWarn;
  bool cleanup_on_exit = false;
  absl::Duration resync_interval = absl::Seconds(5);  // zero: no periodic drift check
  bool readback_after_apply = false;                  // see ReconcilerOptions

  std::vector<std::string> warnings;  // acceptable but doubtful settings, for the log

  netfilter::HostRules host_rules() const;
  netfilter::PodRules pod_rules() const;
};

// What the command line asks for: run with a configuration, or print something and exit.
struct ConfigOutcome {
  bool exit_now = false;  // --help, --version
  std::string output;     // printed to stdout when exit_now
  DaemonConfig config;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnvironment();

// The options whose values differ between `a` and `b` ("log-level", "probe-v4", ...).
std::vector<std::string> ChangedOptions(const DaemonConfig& a, const DaemonConfig& b);

// args[0] is the program name. INVALID_ARGUMENT with a message naming the option and where its
// value came from (flag, environment variable, file key) on any bad value.
absl::StatusOr<ConfigOutcome> ParseDaemonConfig(const std::vector<std::string>& args,
                                                const EnvLookup& env);

}  // namespace probesnat::daemon
