#include "agent/daemon/daemon_config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  ~ConfigTest() override {
    for (const std::string& path : yaml_paths_) {
      std::remove(path.c_str());
    }
  }

  absl::StatusOr<ConfigOutcome> Parse(std::vector<std::string> flags) {
    flags.insert(flags.begin(), "probesnatd");
    return ParseDaemonConfig(flags, [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) {
        return std::nullopt;
      }
      return it->second;
    });
  }

  std::string WriteYaml(const std::string& text) {
    char tmpl[] = "/tmp/probesnatd-config-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ::close(fd);
    yaml_paths_.push_back(tmpl);
    std::ofstream(tmpl) << text;
    return tmpl;
  }

  // Expects INVALID_ARGUMENT mentioning each of `parts`.
  void ExpectError(const std::vector<std::string>& flags, const std::vector<std::string>& parts) {
    absl::StatusOr<ConfigOutcome> got = Parse(flags);
    ASSERT_FALSE(got.ok()) << "accepted " << ::testing::PrintToString(flags);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& part : parts) {
      EXPECT_THAT(std::string(got.status().message()), HasSubstr(part));
    }
  }

  std::map<std::string, std::string> env_;
  std::vector<std::string> yaml_paths_;
};

TEST_F(ConfigTest, DefaultsMatchTheMeshProxy) {
  absl::StatusOr<ConfigOutcome> got = Parse({});
  ASSERT_TRUE(got.ok()) << got.status();
  const DaemonConfig& c = got->config;
  EXPECT_FALSE(got->exit_now);
  EXPECT_EQ(c.host_rules.probe_v4.ToString(), "169.254.7.127");
  EXPECT_EQ(c.host_rules.probe_v6.ToString(), "fd16:9254:7127:1337:ffff:ffff:ffff:ffff");
  EXPECT_EQ(c.pod_rules.tunnel_port, 15008);
  EXPECT_EQ(c.pod_rules.inbound_capture_port, 15006);
  EXPECT_EQ(c.pod_rules.outbound_capture_port, 15001);
  EXPECT_EQ(c.pod_rules.proxy_mark, 0x539u);
  EXPECT_EQ(c.pod_rules.proxy_mask, 0xfffu);
  EXPECT_EQ(c.pod_rules.connection_mark, 0x111u);
  EXPECT_EQ(c.pod_rules.connection_mask, 0xfffu);
  EXPECT_EQ(c.socket_path, "/run/probesnat/probesnat.sock");
  EXPECT_TRUE(c.state_file.empty());
  EXPECT_EQ(StateFilePath(c), "/run/probesnat/state");
  EXPECT_TRUE(c.listen_tcp.empty());
  EXPECT_EQ(c.log_level, spdlog::level::info);
  EXPECT_THAT(c.allowed_netns_roots, ElementsAre("/run/netns", "/var/run/netns", "/proc"));
  EXPECT_EQ(c.policy_mode, PolicyMode::kWarn);
  EXPECT_FALSE(c.cleanup_on_exit);
  EXPECT_EQ(c.resync_interval, absl::Seconds(5));
  EXPECT_FALSE(c.readback_after_apply);
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_EQ(c.pod_rules, netfilter::PodRules{});
  EXPECT_EQ(c.host_rules, netfilter::HostRules{});
}

TEST_F(ConfigTest, FlagsSetEveryOption) {
  absl::StatusOr<ConfigOutcome> got = Parse({"--probe-v4",
                                             "169.254.1.1",
                                             "--probe-v6",
                                             "fe80::1234",
                                             "--tunnel-port",
                                             "16008",
                                             "--inbound-port",
                                             "16006",
                                             "--outbound-port=16001",
                                             "--proxy-mark",
                                             "1337",
                                             "--proxy-mask",
                                             "0xFFFF",
                                             "--connection-mark",
                                             "0x220",
                                             "--connection-mask",
                                             "0xff0",
                                             "--socket",
                                             "/tmp/x/p.sock",
                                             "--listen-tcp",
                                             "[::1]:50071",
                                             "--listen-tcp-token-file",
                                             "/etc/probesnat/tcp-token",
                                             "--allowed-uids",
                                             "1000,1001",
                                             "--allowed-gids",
                                             "2000",
                                             "--log-level",
                                             "debug",
                                             "--allowed-netns-root",
                                             "/run/netns",
                                             "--allowed-netns-root",
                                             "/var/lib/cni/netns",
                                             "--policy-mode",
                                             "enforce",
                                             "--cleanup-on-exit",
                                             "--resync-interval",
                                             "250ms",
                                             "--readback-after-apply"});
  ASSERT_TRUE(got.ok()) << got.status();
  const DaemonConfig& c = got->config;
  EXPECT_EQ(c.host_rules.probe_v4.ToString(), "169.254.1.1");
  EXPECT_EQ(c.host_rules.probe_v6.ToString(), "fe80::1234");
  EXPECT_EQ(c.pod_rules.tunnel_port, 16008);
  EXPECT_EQ(c.pod_rules.inbound_capture_port, 16006);
  EXPECT_EQ(c.pod_rules.outbound_capture_port, 16001);
  EXPECT_EQ(c.pod_rules.proxy_mark, 1337u);
  EXPECT_EQ(c.pod_rules.proxy_mask, 0xffffu);
  EXPECT_EQ(c.pod_rules.connection_mark, 0x220u);
  EXPECT_EQ(c.pod_rules.connection_mask, 0xff0u);
  EXPECT_EQ(c.socket_path, "/tmp/x/p.sock");
  EXPECT_EQ(c.listen_tcp, "[::1]:50071");
  EXPECT_EQ(c.listen_tcp_token_file, "/etc/probesnat/tcp-token");
  EXPECT_THAT(c.allowed_peers.uids, ElementsAre(1000u, 1001u));
  EXPECT_THAT(c.allowed_peers.gids, ElementsAre(2000u));
  EXPECT_EQ(c.log_level, spdlog::level::debug);
  EXPECT_THAT(c.allowed_netns_roots, ElementsAre("/run/netns", "/var/lib/cni/netns"));
  EXPECT_EQ(c.policy_mode, PolicyMode::kEnforce);
  EXPECT_TRUE(c.cleanup_on_exit);
  EXPECT_EQ(c.resync_interval, absl::Milliseconds(250));
  EXPECT_TRUE(c.readback_after_apply);
  // The probe addresses reach both tables; the per-pod switches are not options.
  EXPECT_EQ(c.pod_rules.probe_v4.ToString(), "169.254.1.1");
  EXPECT_EQ(c.pod_rules.probe_v6.ToString(), "fe80::1234");
  EXPECT_TRUE(c.pod_rules.inbound_capture && c.pod_rules.outbound_capture);
  EXPECT_TRUE(c.pod_rules.enrolled_v4 && c.pod_rules.enrolled_v6);
  EXPECT_TRUE(c.warnings.empty());
}

TEST_F(ConfigTest, EnvironmentSetsOptions) {
  env_["PROBESNAT_TUNNEL_PORT"] = "17008";
  env_["PROBESNAT_ALLOWED_NETNS_ROOT"] = "/run/netns,/proc";
  env_["PROBESNAT_CLEANUP_ON_EXIT"] = "true";
  env_["PROBESNAT_POLICY_MODE"] = "off";
  absl::StatusOr<ConfigOutcome> got = Parse({});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->config.pod_rules.tunnel_port, 17008);
  EXPECT_THAT(got->config.allowed_netns_roots, ElementsAre("/run/netns", "/proc"));
  EXPECT_TRUE(got->config.cleanup_on_exit);
  EXPECT_EQ(got->config.policy_mode, PolicyMode::kOff);
}

TEST_F(ConfigTest, YamlFileSetsOptions) {
  std::string path = WriteYaml(
      "socket: /tmp/y/p.sock\n"
      "probe-v4: 169.254.9.9\n"
      "proxy-mark: 0x600\n"
      "allowed-netns-root: [/run/netns, /var/run/netns]\n"
      "cleanup-on-exit: true\n"
      "resync-interval: 10s\n");
  absl::StatusOr<ConfigOutcome> got = Parse({"--config", path});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->config.config_file, path);
  EXPECT_EQ(got->config.socket_path, "/tmp/y/p.sock");
  EXPECT_EQ(got->config.host_rules.probe_v4.ToString(), "169.254.9.9");
  EXPECT_EQ(got->config.pod_rules.probe_v4.ToString(), "169.254.9.9");
  EXPECT_EQ(got->config.pod_rules.proxy_mark, 0x600u);
  EXPECT_THAT(got->config.allowed_netns_roots, ElementsAre("/run/netns", "/var/run/netns"));
  EXPECT_TRUE(got->config.cleanup_on_exit);
  EXPECT_EQ(got->config.resync_interval, absl::Seconds(10));
}

TEST_F(ConfigTest, FlagsBeatEnvironmentWhichBeatsTheFileWhichBeatsDefaults) {
  std::string path = WriteYaml(
      "tunnel-port: 11111\n"
      "inbound-port: 11112\n"
      "outbound-port: 11113\n"
      "log-level: error\n");
  env_["PROBESNAT_CONFIG"] = path;  // the file itself may come from the environment
  env_["PROBESNAT_TUNNEL_PORT"] = "22221";
  env_["PROBESNAT_INBOUND_PORT"] = "22222";
  absl::StatusOr<ConfigOutcome> got = Parse({"--tunnel-port", "33331"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->config.pod_rules.tunnel_port, 33331);            // flag
  EXPECT_EQ(got->config.pod_rules.inbound_capture_port, 22222);   // environment over file
  EXPECT_EQ(got->config.pod_rules.outbound_capture_port, 11113);  // file over default
  EXPECT_EQ(got->config.log_level, spdlog::level::err);
  EXPECT_EQ(got->config.pod_rules.proxy_mark, 0x539u);  // default
}

TEST_F(ConfigTest, FlagCanTurnOffWhatTheFileTurnedOn) {
  std::string path = WriteYaml("cleanup-on-exit: true\n");
  absl::StatusOr<ConfigOutcome> got = Parse({"--config", path, "--cleanup-on-exit=false"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->config.cleanup_on_exit);
}

TEST_F(ConfigTest, BadValuesNameTheOptionAndWhereTheValueCameFrom) {
  ExpectError({"--tunnel-port", "0"}, {"tunnel-port", "\"0\"", "--tunnel-port", "1-65535"});
  ExpectError({"--inbound-port", "65536"}, {"inbound-port", "1-65535"});
  ExpectError({"--outbound-port", "http"}, {"outbound-port"});
  ExpectError({"--probe-v4", "fd00::1"}, {"probe-v4", "not an IPv4 address"});
  ExpectError({"--probe-v6", "169.254.7.127"}, {"probe-v6", "not an IPv6 address"});
  ExpectError({"--probe-v4", "nonsense"}, {"probe-v4", "not an IP address"});
  ExpectError({"--proxy-mark", "0xzz"}, {"proxy-mark", "hex"});
  ExpectError({"--proxy-mark", "-1"}, {"proxy-mark"});
  ExpectError({"--proxy-mark", "0x1000"}, {"proxy-mark", "outside", "proxy-mask"});
  ExpectError({"--connection-mask", "0"}, {"connection-mask must not be 0"});
  ExpectError({"--log-level", "verbose"}, {"log-level", "trace, debug, info, warn or error"});
  ExpectError({"--policy-mode", "strict"}, {"policy-mode", "off, warn or enforce"});
  ExpectError({"--socket", "relative.sock"}, {"socket", "absolute"});
  ExpectError({"--socket", "/tmp/" + std::string(120, 'a')}, {"socket", "longer than"});
  ExpectError({"--state-file", "state"}, {"state-file", "absolute"});
  ExpectError({"--state-file", "/run/probesnat/../state"}, {"state-file", "normalized"});
  ExpectError({"--allowed-netns-root", "/run/../etc"}, {"allowed-netns-root", "normalized"});
  ExpectError({"--allowed-netns-root", "/"}, {"allowed-netns-root"});
  ExpectError({"--resync-interval", "soon"}, {"resync-interval", "not a duration"});
  ExpectError({"--resync-interval", "1ms"}, {"resync-interval", "at least 100ms"});
  ExpectError({"--tunnel-port", "15006"}, {"three different ports"});
  ExpectError({"--no-such-flag"}, {"no-such-flag"});
  env_["PROBESNAT_CLEANUP_ON_EXIT"] = "maybe";
  ExpectError({}, {"cleanup-on-exit", "environment PROBESNAT_CLEANUP_ON_EXIT", "boolean"});
}

TEST_F(ConfigTest, ListenTcpMustBeLoopback) {
  for (const char* ok : {"127.0.0.1:50071", "127.1.2.3:1", "[::1]:50071"}) {
    absl::StatusOr<ConfigOutcome> got =
        Parse({"--listen-tcp", ok, "--listen-tcp-token-file", "/etc/probesnat/tcp-token"});
    EXPECT_TRUE(got.ok()) << ok << ": " << got.status();
  }
  ExpectError({"--listen-tcp", "0.0.0.0:50071"}, {"listen-tcp", "not a loopback address"});
  ExpectError({"--listen-tcp", "10.0.0.1:50071"}, {"not a loopback address"});
  ExpectError({"--listen-tcp", "[::]:50071"}, {"not a loopback address"});
}

TEST_F(ConfigTest, MetricsListenIsLoopbackOrOneNodeAddress) {
  // Metrics only read: one node address is fine (Prometheus scrapes the DaemonSet's host IP),
  // every interface is not.
  for (const char* ok : {"127.0.0.1:9464", "[::1]:9464", "10.0.0.5:9464", "[fd00::5]:9464"}) {
    absl::StatusOr<ConfigOutcome> got = Parse({"--metrics-listen", ok});
    EXPECT_TRUE(got.ok()) << ok << ": " << got.status();
  }
  ExpectError({"--metrics-listen", "0.0.0.0:9464"}, {"metrics-listen", "every interface"});
  ExpectError({"--metrics-listen", "[::]:9464"}, {"every interface"});
  ExpectError({"--metrics-listen", "224.0.0.1:9464"}, {"not a unicast address"});
  ExpectError({"--metrics-listen", "10.0.0.1"}, {"expected host:port"});
  ExpectError({"--listen-tcp", "localhost:50071"}, {"not an IP address"});
  ExpectError({"--listen-tcp", "::1:50071"}, {"[addr]:port"});
  ExpectError({"--listen-tcp", "127.0.0.1"}, {"host:port"});
  ExpectError({"--listen-tcp", "127.0.0.1:0"}, {"1-65535"});
}

TEST_F(ConfigTest, ListenTcpNeedsATokenFile) {
  ExpectError({"--listen-tcp", "127.0.0.1:50071"}, {"listen-tcp", "listen-tcp-token-file"});
  ExpectError({"--listen-tcp", "127.0.0.1:50071", "--listen-tcp-token-file", "token"},
              {"listen-tcp-token-file", "absolute"});
  absl::StatusOr<ConfigOutcome> unused = Parse({"--listen-tcp-token-file", "/etc/t"});
  ASSERT_TRUE(unused.ok()) << unused.status();
  EXPECT_THAT(unused->config.warnings, ElementsAre(HasSubstr("listen-tcp is not")));
}

TEST_F(ConfigTest, AllowedUidsAndGidsAreNumericLists) {
  absl::StatusOr<ConfigOutcome> got =
      Parse({"--allowed-uids", "1000", "--allowed-uids", "1001, 1000", "--allowed-gids", "7"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->config.allowed_peers.uids, ElementsAre(1000u, 1001u));
  EXPECT_THAT(got->config.allowed_peers.gids, ElementsAre(7u));
  ExpectError({"--allowed-uids", "kubelet"}, {"allowed-uids", "not a numeric id"});
  ExpectError({"--allowed-gids", "-1"}, {"allowed-gids", "not a numeric id"});
  ExpectError({"--allowed-uids", "4294967295"}, {"allowed-uids", "not a numeric id"});
}

TEST_F(ConfigTest, YamlProblemsAreReported) {
  ExpectError({"--config", "/nonexistent/probesnat.yaml"}, {"cannot read config file"});
  std::string path = WriteYaml("tunel-port: 15008\n");
  ExpectError({"--config", path}, {"unknown key \"tunel-port\""});
  path = WriteYaml("- a\n- b\n");
  ExpectError({"--config", path}, {"expected a mapping"});
  path = WriteYaml("socket: [a, b]\n");
  ExpectError({"--config", path}, {"socket", "single value"});
  path = WriteYaml("tunnel-port: 99999\n");
  ExpectError({"--config", path}, {"tunnel-port", "key tunnel-port", "1-65535"});
  path = WriteYaml("socket: : :\n");
  ExpectError({"--config", path}, {"config file"});
}

TEST_F(ConfigTest, DoubtfulProbeAddressesProduceWarnings) {
  absl::StatusOr<ConfigOutcome> got =
      Parse({"--probe-v4", "10.0.0.1", "--probe-v6", "2001:db8::1"});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->config.warnings.size(), 2u);
  EXPECT_THAT(got->config.warnings[0], HasSubstr("not link-local"));
  EXPECT_THAT(got->config.warnings[1], HasSubstr("neither link-local"));
}

TEST_F(ConfigTest, TheExampleFileIsValidAndStatesTheDefaults) {
  absl::StatusOr<ConfigOutcome> example = Parse({"--config", PROBESNAT_EXAMPLE_CONFIG});
  ASSERT_TRUE(example.ok()) << example.status();
  absl::StatusOr<ConfigOutcome> defaults = Parse({});
  ASSERT_TRUE(defaults.ok());
  const DaemonConfig& e = example->config;
  const DaemonConfig& d = defaults->config;
  EXPECT_EQ(e.host_rules, d.host_rules);
  EXPECT_EQ(e.pod_rules, d.pod_rules);
  EXPECT_EQ(e.socket_path, d.socket_path);
  EXPECT_EQ(e.listen_tcp, d.listen_tcp);
  EXPECT_EQ(e.listen_tcp_token_file, d.listen_tcp_token_file);
  EXPECT_EQ(e.allowed_peers.uids, d.allowed_peers.uids);
  EXPECT_EQ(e.allowed_peers.gids, d.allowed_peers.gids);
  EXPECT_EQ(e.log_level, d.log_level);
  EXPECT_EQ(e.allowed_netns_roots, d.allowed_netns_roots);
  EXPECT_EQ(e.policy_mode, d.policy_mode);
  EXPECT_EQ(e.cleanup_on_exit, d.cleanup_on_exit);
  EXPECT_EQ(e.uninstall_with_daemonset, d.uninstall_with_daemonset);
  EXPECT_EQ(e.kubernetes_api, d.kubernetes_api);
  EXPECT_EQ(e.kubernetes_credentials_dir, d.kubernetes_credentials_dir);
  EXPECT_EQ(e.resync_interval, d.resync_interval);
  EXPECT_EQ(e.readback_after_apply, d.readback_after_apply);
}

TEST_F(ConfigTest, TheStateFileIsBesideTheSocketUnlessSet) {
  absl::StatusOr<ConfigOutcome> got = Parse({"--socket", "/tmp/x/p.sock"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(StateFilePath(got->config), "/tmp/x/state");
  got = Parse({"--socket", "/p.sock"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(StateFilePath(got->config), "/state");
  got = Parse({"--socket", "/tmp/x/p.sock", "--state-file", "/var/lib/probesnat/state"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(StateFilePath(got->config), "/var/lib/probesnat/state");
}

TEST_F(ConfigTest, EveryOptionHasItsOwnName) {
  std::set<std::string> names;
  for (const DaemonOption& o : DaemonOptions()) {
    EXPECT_TRUE(names.insert(o.name).second) << "two options named " << o.name;
    EXPECT_FALSE(o.name.empty());
    EXPECT_TRUE(
        std::all_of(o.name.begin(), o.name.end(),
                    [](char ch) { return std::islower(ch) || std::isdigit(ch) || ch == '-'; }))
        << o.name << " is not a lower-case, hyphenated name (flag, YAML key and env var)";
    EXPECT_FALSE(o.help.empty()) << o.name;
    EXPECT_TRUE(o.set && o.show) << o.name;
  }
  for (const char* taken : {"config", "help", "version"}) {
    EXPECT_EQ(names.count(taken), 0u) << taken;
  }
}

// A non-default value per option: the text given, and the text it reads back as.
struct Sample {
  std::string given;
  std::string shown;
  std::vector<std::string> other_flags = {};  // what the option needs beside it
};

const std::map<std::string, Sample>& Samples() {
  static const std::map<std::string, Sample> kSamples = {
      {"probe-v4", {"169.254.1.2", "169.254.1.2"}},
      {"probe-v6", {"FE80::0:1", "fe80::1"}},
      {"probe-origin", {"Cgroup", "cgroup"}},
      {"kubelet-cgroup", {"system.slice/k3s.service", "system.slice/k3s.service"}},
      {"cgroup-root", {"/host/sys/fs/cgroup", "/host/sys/fs/cgroup"}},
      {"origin-ct-mark", {"0x200000", "0x200000"}},
      {"tunnel-port", {"16008", "16008"}},
      {"inbound-port", {"0x3e86", "16006"}},
      {"outbound-port", {"16001", "16001"}},
      {"proxy-mark", {"0X53A", "0x53a"}},
      {"proxy-mask", {"65535", "0xffff"}},
      {"connection-mark", {"0x112", "0x112"}},
      {"connection-mask", {"0x1ff", "0x1ff"}},
      {"socket", {"/tmp/p/probesnat.sock", "/tmp/p/probesnat.sock"}},
      {"state-file", {"/var/lib/probesnat/state", "/var/lib/probesnat/state"}},
      {"listen-tcp",
       {"127.0.0.1:50071", "127.0.0.1:50071", {"--listen-tcp-token-file", "/etc/probesnat/t"}}},
      {"listen-tcp-token-file", {"/etc/probesnat/t", "/etc/probesnat/t"}},
      {"allowed-uids", {"1000, 1001,1000", "1000,1001"}},
      {"allowed-gids", {"7", "7"}},
      {"log-level", {"DEBUG", "debug"}},
      {"log-format", {"JSON", "json"}},
      {"metrics-listen", {"[::1]:9464", "[::1]:9464"}},
      {"allowed-netns-root", {"/run/netns,/var/lib/cni/netns", "/run/netns,/var/lib/cni/netns"}},
      {"policy-mode", {"Enforce", "enforce"}},
      {"cleanup-on-exit", {"yes", "true"}},
      {"uninstall-with-daemonset", {"probesnat-system/probesnat", "probesnat-system/probesnat"}},
      {"kubernetes-api", {"https://10.96.0.1:443", "https://10.96.0.1:443"}},
      {"kubernetes-credentials-dir", {"/etc/probesnat/sa", "/etc/probesnat/sa"}},
      {"resync-interval", {"90", "1m30s"}},
      {"readback-after-apply", {"on", "true"}},
  };
  return kSamples;
}

TEST_F(ConfigTest, EveryOptionRoundTripsAValue) {
  const DaemonConfig defaults;
  EXPECT_EQ(Samples().size(), DaemonOptions().size()) << "an option without a sample, or a "
                                                         "sample of no option";
  for (const DaemonOption& o : DaemonOptions()) {
    SCOPED_TRACE(o.name);
    // The default reads back as text that sets the default.
    DaemonConfig c;
    ASSERT_TRUE(o.set({o.show(defaults)}, c).ok()) << o.show(defaults);
    EXPECT_THAT(ChangedOptions(defaults, c), ::testing::IsEmpty());
    // A value set from text reads back, and changes this option only.
    auto sample = Samples().find(o.name);
    ASSERT_NE(sample, Samples().end()) << "no sample for " << o.name;
    const Sample& s = sample->second;
    ASSERT_NE(s.shown, o.show(defaults)) << "the sample is the default";
    absl::Status st = o.set({s.given}, c);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(o.show(c), s.shown);
    EXPECT_THAT(ChangedOptions(defaults, c), ElementsAre(o.name));
    // The same from each source: flag, environment, file.
    std::vector<std::string> flag = {"--" + o.name};
    if (o.shape == OptionShape::kSwitch) {
      flag = {"--" + o.name + "=" + s.given};
    } else {
      flag.push_back(s.given);
    }
    flag.insert(flag.end(), s.other_flags.begin(), s.other_flags.end());
    absl::StatusOr<ConfigOutcome> from_flag = Parse(flag);
    ASSERT_TRUE(from_flag.ok()) << from_flag.status();
    EXPECT_EQ(o.show(from_flag->config), s.shown);

    std::string env_name = "PROBESNAT_" + o.name;
    std::transform(env_name.begin(), env_name.end(), env_name.begin(),
                   [](char ch) { return ch == '-' ? '_' : std::toupper(ch); });
    env_[env_name] = s.given;
    absl::StatusOr<ConfigOutcome> from_env = Parse(s.other_flags);
    env_.clear();
    ASSERT_TRUE(from_env.ok()) << from_env.status();
    EXPECT_EQ(o.show(from_env->config), s.shown);

    std::vector<std::string> file_flags = {"--config",
                                           WriteYaml(o.name + ": \"" + s.given + "\"\n")};
    file_flags.insert(file_flags.end(), s.other_flags.begin(), s.other_flags.end());
    absl::StatusOr<ConfigOutcome> from_file = Parse(file_flags);
    ASSERT_TRUE(from_file.ok()) << from_file.status();
    EXPECT_EQ(o.show(from_file->config), s.shown);
  }
}

TEST_F(ConfigTest, EveryOptionIsDocumentedInHelpTheExampleFileAndTheReadme) {
  absl::StatusOr<ConfigOutcome> help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  std::stringstream example, readme;
  example << std::ifstream(PROBESNAT_EXAMPLE_CONFIG).rdbuf();
  readme << std::ifstream(std::filesystem::path(PROBESNAT_EXAMPLE_CONFIG).parent_path() /
                          "README.md")
                .rdbuf();
  ASSERT_FALSE(example.str().empty());
  ASSERT_FALSE(readme.str().empty());
  const DaemonConfig defaults;
  for (const DaemonOption& o : DaemonOptions()) {
    std::string shown = o.show(defaults).empty() ? "none" : o.show(defaults);
    EXPECT_THAT(help->output, HasSubstr("--" + o.name));
    EXPECT_THAT(help->output, HasSubstr("(default " + shown + ")")) << o.name;
    EXPECT_THAT(example.str(), HasSubstr(o.name + ":"));  // listen-tcp as a comment
    EXPECT_THAT(readme.str(), HasSubstr("`--" + o.name));
  }
}

TEST_F(ConfigTest, TheStartLogNamesEveryOption) {
  DaemonConfig c;
  c.pod_rules.proxy_mark = 0x77;
  std::string described = DescribeConfig(c);
  EXPECT_THAT(described, HasSubstr("probe-v4=169.254.7.127 "));
  EXPECT_THAT(described, HasSubstr("proxy-mark=0x77 "));
  EXPECT_THAT(described, HasSubstr("listen-tcp=none "));
  EXPECT_THAT(described, HasSubstr("allowed-netns-root=/run/netns,/var/run/netns,/proc "));
  for (const DaemonOption& o : DaemonOptions()) {
    EXPECT_THAT(described, HasSubstr(o.name + "=")) << o.name;
  }
}

TEST_F(ConfigTest, HelpAndVersionAskToExit) {
  absl::StatusOr<ConfigOutcome> help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->exit_now);
  EXPECT_THAT(help->output, HasSubstr("--tunnel-port"));
  EXPECT_THAT(help->output, HasSubstr("PROBESNAT_"));
  absl::StatusOr<ConfigOutcome> version = Parse({"--version"});
  ASSERT_TRUE(version.ok());
  EXPECT_TRUE(version->exit_now);
  EXPECT_THAT(version->output, HasSubstr("probesnatd"));
}

}  // namespace
}  // namespace probesnat::daemon
