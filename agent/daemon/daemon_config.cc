#include "agent/daemon/daemon_config.h"

#include <sys/un.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/daemon/loopback_address.h"
#include "yaml-cpp/yaml.h"

namespace probesnat::daemon {
namespace {

using netfilter::IpAddress;

constexpr char kVersion[] = "probesnatd 0.1.0";

enum class Kind { kValue, kList, kFlag };

struct OptionSpec {
  const char* name;
  Kind kind;
  const char* help;
};

// Every option except --config; the YAML keys are these names.
constexpr OptionSpec kOptions[] = {
    {"probe-v4", Kind::kValue, "IPv4 source address for node-originated probes (link-local)"},
    {"probe-v6", Kind::kValue, "IPv6 source address for node-originated probes"},
    {"tunnel-port", Kind::kValue, "HBONE tunnel port of the mesh proxy (default 15008)"},
    {"inbound-port", Kind::kValue, "inbound plaintext capture port (default 15006)"},
    {"outbound-port", Kind::kValue, "outbound capture port (default 15001)"},
    {"proxy-mark", Kind::kValue, "packet mark of the proxy's own traffic, hex or decimal (0x539)"},
    {"proxy-mask", Kind::kValue, "mask for --proxy-mark (0xfff)"},
    {"connection-mark", Kind::kValue, "connection mark for proxy-accepted inbound (0x111)"},
    {"connection-mask", Kind::kValue, "mask for --connection-mark (0xfff)"},
    {"socket", Kind::kValue, "unix socket to serve on (/run/probesnat/probesnat.sock)"},
    {"listen-tcp", Kind::kValue,
     "also serve on this loopback address, e.g. 127.0.0.1:50071 (needs listen-tcp-token-file)"},
    {"listen-tcp-token-file", Kind::kValue,
     "file (root-owned, mode 0600/0400) with the bearer token every TCP call must send as "
     "\"authorization: Bearer <token>\""},
    {"allowed-uids", Kind::kList,
     "uids besides 0 that may call over the unix socket (SO_PEERCRED), comma-separated"},
    {"allowed-gids", Kind::kList,
     "gids whose members (primary or supplementary group) may call over the unix socket"},
    {"log-level", Kind::kValue, "trace|debug|info|warn|error (info)"},
    {"allowed-netns-root", Kind::kList,
     "directory pod network namespaces must lie under; repeatable (/run/netns, /var/run/netns, "
     "/proc)"},
    {"policy-mode", Kind::kValue, "NetworkPolicy check: off|warn|enforce (warn)"},
    {"cleanup-on-exit", Kind::kFlag,
     "remove every table on SIGTERM/SIGINT (default: rules outlive "
     "the agent)"},
    {"resync-interval", Kind::kValue, "drift check period, e.g. 5s, 500ms; 0 disables (5s)"},
    {"readback-after-apply", Kind::kFlag,
     "read each pod table back before reporting APPLIED (default false: the drift check reads "
     "every table back)"},
};

std::string EnvName(absl::string_view option) {
  return absl::StrCat("PROBESNAT_",
                      absl::AsciiStrToUpper(absl::StrReplaceAll(option, {{"-", "_"}})));
}

// A raw option value and where it came from.
struct RawValue {
  std::vector<std::string> values;
  std::string origin;  // "--x", "environment PROBESNAT_X", "config file F key x"
};

absl::Status Bad(absl::string_view name, const RawValue& raw, absl::string_view problem) {
  std::string shown = raw.values.size() == 1 ? raw.values[0] : absl::StrJoin(raw.values, ",");
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", name, " \"", shown, "\" (from ", raw.origin, "): ", problem));
}

absl::StatusOr<bool> ParseBool(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t == "true" || t == "1" || t == "yes" || t == "on") {
    return true;
  }
  if (t == "false" || t == "0" || t == "no" || t == "off") {
    return false;
  }
  return absl::InvalidArgumentError("not a boolean (true|false)");
}

absl::StatusOr<uint32_t> ParseUint32(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  uint32_t v = 0;
  bool ok = false;
  if (absl::ConsumePrefix(&t, "0x") || absl::ConsumePrefix(&t, "0X")) {
    ok = !t.empty() && std::all_of(t.begin(), t.end(), absl::ascii_isxdigit) &&
         absl::SimpleHexAtoi(t, &v);
  } else {
    ok = !t.empty() && std::all_of(t.begin(), t.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(t, &v);
  }
  if (!ok) {
    return absl::InvalidArgumentError("not a 32-bit number (decimal or 0x-prefixed hex)");
  }
  return v;
}

absl::StatusOr<uint16_t> ParsePort(absl::string_view text) {
  absl::StatusOr<uint32_t> v = ParseUint32(text);
  if (!v.ok() || *v < 1 || *v > 65535) {
    return absl::InvalidArgumentError("not a port number 1-65535");
  }
  return static_cast<uint16_t>(*v);
}

bool IsNormalizedAbsolutePath(absl::string_view path) {
  if (path.empty() || path.front() != '/') {
    return false;
  }
  if (path == "/") {
    return true;
  }
  if (path.back() == '/') {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
  }
  return true;
}

// Reads the YAML file into raw values; unknown keys are errors (they are usually typos).
absl::Status LoadYaml(const std::string& path, std::map<std::string, RawValue>& out) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", e.what()));
  }
  if (root.IsNull()) {
    return absl::OkStatus();
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": expected a mapping of option names to values"));
  }
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>("");
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& o : kOptions) {
      if (key == o.name) {
        spec = &o;
      }
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", path, ": unknown key \"", key, "\""));
    }
    RawValue raw;
    raw.origin = absl::StrCat("config file ", path, " key ", key);
    const YAML::Node& v = kv.second;
    if (v.IsSequence() && spec->kind == Kind::kList) {
      for (const auto& item : v) {
        if (!item.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat(raw.origin, ": expected a list of strings"));
        }
        raw.values.push_back(item.Scalar());
      }
    } else if (v.IsScalar()) {
      raw.values.push_back(v.Scalar());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          raw.origin, spec->kind == Kind::kList ? ": expected a string or a list of strings"
                                                : ": expected a single value"));
    }
    out[key] = std::move(raw);
  }
  return absl::OkStatus();
}

// Converts the resolved raw value of option `name` into `config`.
absl::Status Apply(const std::string& name, const RawValue& raw, DaemonConfig& config) {
  const std::string& v = raw.values.empty() ? std::string() : raw.values.front();
  auto port = [&](uint16_t& field) -> absl::Status {
    absl::StatusOr<uint16_t> p = ParsePort(v);
    if (!p.ok()) {
      return Bad(name, raw, p.status().message());
    }
    field = *p;
    return absl::OkStatus();
  };
  auto u32 = [&](uint32_t& field) -> absl::Status {
    absl::StatusOr<uint32_t> p = ParseUint32(v);
    if (!p.ok()) {
      return Bad(name, raw, p.status().message());
    }
    field = *p;
    return absl::OkStatus();
  };
  auto flag = [&](bool& field) -> absl::Status {
    absl::StatusOr<bool> b = ParseBool(v);
    if (!b.ok()) {
      return Bad(name, raw, b.status().message());
    }
    field = *b;
    return absl::OkStatus();
  };
  if (name == "probe-v4" || name == "probe-v6") {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(std::string(absl::StripAsciiWhitespace(v)));
    bool want_v4 = name == "probe-v4";
    if (!ip.ok()) {
      return Bad(name, raw, "not an IP address");
    }
    if (ip->is_v4() != want_v4) {
      return Bad(name, raw, want_v4 ? "not an IPv4 address" : "not an IPv6 address");
    }
    const uint8_t* b = ip->data();
    if (want_v4) {
      config.probe_v4 = *ip;
      if (!(b[0] == 169 && b[1] == 254)) {
        config.warnings.push_back(
            absl::StrCat("probe-v4 ", v,
                         " is not link-local (169.254.0.0/16): make sure no real peer uses it, "
                         "traffic from it bypasses mesh security"));
      }
    } else {
      config.probe_v6 = *ip;
      bool link_local = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
      bool unique_local = (b[0] & 0xfe) == 0xfc;  // the mesh-compatible default is fd16:...
      if (!link_local && !unique_local) {
        config.warnings.push_back(
            absl::StrCat("probe-v6 ", v,
                         " is neither link-local (fe80::/10) nor unique-local (fc00::/7): "
                         "make sure no real peer uses it, traffic from it bypasses mesh security"));
      }
    }
    return absl::OkStatus();
  }
  if (name == "tunnel-port") {
    return port(config.tunnel_port);
  }
  if (name == "inbound-port") {
    return port(config.inbound_port);
  }
  if (name == "outbound-port") {
    return port(config.outbound_port);
  }
  if (name == "proxy-mark") {
    return u32(config.proxy_mark);
  }
  if (name == "proxy-mask") {
    return u32(config.proxy_mask);
  }
  if (name == "connection-mark") {
    return u32(config.connection_mark);
  }
  if (name == "connection-mask") {
    return u32(config.connection_mask);
  }
  if (name == "socket") {
    if (!IsNormalizedAbsolutePath(v) || v == "/") {
      return Bad(name, raw, "must be an absolute, normalized file path");
    }
    if (v.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return Bad(name, raw,
                 absl::StrCat("longer than ", sizeof(sockaddr_un{}.sun_path) - 1, " characters"));
    }
    config.socket_path = v;
    return absl::OkStatus();
  }
  if (name == "listen-tcp") {
    if (!v.empty()) {
      if (absl::Status st = ValidateLoopbackListenAddress(v); !st.ok()) {
        return Bad(name, raw, st.message());
      }
    }
    config.listen_tcp = v;
    return absl::OkStatus();
  }
  if (name == "listen-tcp-token-file") {
    if (!v.empty() && !IsNormalizedAbsolutePath(v)) {
      return Bad(name, raw, "must be an absolute, normalized file path");
    }
    config.listen_tcp_token_file = v;
    return absl::OkStatus();
  }
  if (name == "allowed-uids" || name == "allowed-gids") {
    std::vector<uint32_t> ids;
    for (const std::string& value : raw.values) {
      for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        part = absl::StripAsciiWhitespace(part);
        uint32_t id = 0;
        if (part.empty() || !std::all_of(part.begin(), part.end(), absl::ascii_isdigit) ||
            !absl::SimpleAtoi(part, &id) || id == static_cast<uint32_t>(-1)) {
          return Bad(name, raw, absl::StrCat("\"", part, "\" is not a numeric id"));
        }
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
          ids.push_back(id);
        }
      }
    }
    (name == "allowed-uids" ? config.allowed_uids : config.allowed_gids) = std::move(ids);
    return absl::OkStatus();
  }
  if (name == "log-level") {
    static const std::map<std::string, spdlog::level::level_enum> kLevels = {
        {"trace", spdlog::level::trace},
        {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},
        {"error", spdlog::level::err}};
    auto it = kLevels.find(absl::AsciiStrToLower(v));
    if (it == kLevels.end()) {
      return Bad(name, raw, "expected trace, debug, info, warn or error");
    }
    config.log_level = it->second;
    return absl::OkStatus();
  }
  if (name == "allowed-netns-root") {
    std::vector<std::string> roots;
    for (const std::string& value : raw.values) {
      for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        std::string root(absl::StripAsciiWhitespace(part));
        if (!IsNormalizedAbsolutePath(root) || root == "/") {
          return Bad(name, raw,
                     absl::StrCat("\"", root,
                                  "\" is not an absolute, normalized directory "
                                  "other than /"));
        }
        if (std::find(roots.begin(), roots.end(), root) == roots.end()) {
          roots.push_back(root);
        }
      }
    }
    if (roots.empty()) {
      return Bad(name, raw, "at least one directory is required");
    }
    config.allowed_netns_roots = std::move(roots);
    return absl::OkStatus();
  }
  if (name == "policy-mode") {
    std::string mode = absl::AsciiStrToLower(v);
    if (mode == "off") {
      config.policy_mode = PolicyMode::kOff;
    } else if (mode == "warn") {
      config.policy_mode = PolicyMode::kWarn;
    } else if (mode == "enforce") {
      config.policy_mode = PolicyMode::kEnforce;
    } else {
      return Bad(name, raw, "expected off, warn or enforce");
    }
    return absl::OkStatus();
  }
  if (name == "cleanup-on-exit") {
    return flag(config.cleanup_on_exit);
  }
  if (name == "readback-after-apply") {
    return flag(config.readback_after_apply);
  }
  if (name == "resync-interval") {
    absl::Duration d;
    int64_t seconds = 0;
    if (absl::SimpleAtoi(v, &seconds)) {
      d = absl::Seconds(seconds);
    } else if (!absl::ParseDuration(v, &d)) {
      return Bad(name, raw, "not a duration (e.g. 5s, 500ms, 1m; 0 disables)");
    }
    if (d < absl::ZeroDuration()) {
      return Bad(name, raw, "must not be negative");
    }
    if (d > absl::ZeroDuration() && d < absl::Milliseconds(100)) {
      return Bad(name, raw, "must be 0 (off) or at least 100ms");
    }
    config.resync_interval = d;
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("unhandled option ", name));
}

absl::Status CheckConsistency(DaemonConfig& c) {
  if (!c.listen_tcp.empty() && c.listen_tcp_token_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen-tcp ", c.listen_tcp,
                     " requires listen-tcp-token-file: every local user can reach a loopback "
                     "port, so TCP callers must send a bearer token"));
  }
  if (c.listen_tcp.empty() && !c.listen_tcp_token_file.empty()) {
    c.warnings.push_back("listen-tcp-token-file is set but listen-tcp is not; the file is unused");
  }
  if (c.tunnel_port == c.inbound_port || c.tunnel_port == c.outbound_port ||
      c.inbound_port == c.outbound_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("tunnel-port (", c.tunnel_port, "), inbound-port (", c.inbound_port,
                     ") and outbound-port (", c.outbound_port, ") must be three different ports"));
  }
  auto mark = [](const char* name, uint32_t m, uint32_t mask) -> absl::Status {
    if (mask == 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, "-mask must not be 0"));
    }
    if (m == 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, "-mark must not be 0"));
    }
    if ((m & ~mask) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, "-mark 0x", absl::Hex(m), " has bits outside ", name, "-mask 0x", absl::Hex(mask)));
    }
    return absl::OkStatus();
  };
  if (absl::Status st = mark("proxy", c.proxy_mark, c.proxy_mask); !st.ok()) {
    return st;
  }
  return mark("connection", c.connection_mark, c.connection_mask);
}

}  // namespace

netfilter::HostRules DaemonConfig::host_rules() const {
  netfilter::HostRules rules;
  rules.probe_v4 = probe_v4;
  rules.probe_v6 = probe_v6;
  return rules;
}

netfilter::PodRules DaemonConfig::pod_rules() const {
  netfilter::PodRules rules;
  rules.probe_v4 = probe_v4;
  rules.probe_v6 = probe_v6;
  rules.tunnel_port = tunnel_port;
  rules.inbound_capture_port = inbound_port;
  rules.outbound_capture_port = outbound_port;
  rules.proxy_mark = proxy_mark;
  rules.proxy_mask = proxy_mask;
  rules.connection_mark = connection_mark;
  rules.connection_mask = connection_mask;
  return rules;
}

std::vector<std::string> ChangedOptions(const DaemonConfig& a, const DaemonConfig& b) {
  std::vector<std::string> changed;
  auto check = [&](const char* name, bool same) {
    if (!same) {
      changed.push_back(name);
    }
  };
  check("probe-v4", a.probe_v4 == b.probe_v4);
  check("probe-v6", a.probe_v6 == b.probe_v6);
  check("tunnel-port", a.tunnel_port == b.tunnel_port);
  check("inbound-port", a.inbound_port == b.inbound_port);
  check("outbound-port", a.outbound_port == b.outbound_port);
  check("proxy-mark", a.proxy_mark == b.proxy_mark);
  check("proxy-mask", a.proxy_mask == b.proxy_mask);
  check("connection-mark", a.connection_mark == b.connection_mark);
  check("connection-mask", a.connection_mask == b.connection_mask);
  check("socket", a.socket_path == b.socket_path);
  check("listen-tcp", a.listen_tcp == b.listen_tcp);
  check("listen-tcp-token-file", a.listen_tcp_token_file == b.listen_tcp_token_file);
  check("allowed-uids", a.allowed_uids == b.allowed_uids);
  check("allowed-gids", a.allowed_gids == b.allowed_gids);
  check("log-level", a.log_level == b.log_level);
  check("allowed-netns-root", a.allowed_netns_roots == b.allowed_netns_roots);
  check("policy-mode", a.policy_mode == b.policy_mode);
  check("cleanup-on-exit", a.cleanup_on_exit == b.cleanup_on_exit);
  check("resync-interval", a.resync_interval == b.resync_interval);
  check("readback-after-apply", a.readback_after_apply == b.readback_after_apply);
  return changed;
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

absl::StatusOr<ConfigOutcome> ParseDaemonConfig(const std::vector<std::string>& args,
                                                const EnvLookup& env) {
  CLI::App app{
      "probesnatd: node agent that SNATs kubelet probes and captures mesh traffic in "
      "enrolled pods. Every option can also be set as PROBESNAT_<OPTION> in the "
      "environment or as <option>: in the YAML file given with --config; flags win over "
      "the environment, which wins over the file.",
      "probesnatd"};
  app.set_version_flag("--version", kVersion);
  std::string config_file;
  CLI::Option* config_opt =
      app.add_option("--config", config_file, "YAML file with option: value pairs");
  std::map<std::string, std::string> cli_values;
  std::map<std::string, std::vector<std::string>> cli_lists;
  std::map<std::string, bool> cli_flags;
  std::map<std::string, CLI::Option*> cli_opts;
  for (const OptionSpec& o : kOptions) {
    std::string flag = absl::StrCat("--", o.name);
    switch (o.kind) {
      case Kind::kValue:
        cli_opts[o.name] = app.add_option(flag, cli_values[o.name], o.help);
        break;
      case Kind::kList:
        cli_opts[o.name] = app.add_option(flag, cli_lists[o.name], o.help)->delimiter(',');
        break;
      case Kind::kFlag:
        cli_opts[o.name] = app.add_flag(flag, cli_flags[o.name], o.help);
        break;
    }
  }

  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.c_str());
  }
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    return ConfigOutcome{true, app.help(), {}};
  } catch (const CLI::CallForVersion&) {
    return ConfigOutcome{true, absl::StrCat(kVersion, "\n"), {}};
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }

  ConfigOutcome outcome;
  DaemonConfig& config = outcome.config;
  if (config_opt->count() > 0) {
    config.config_file = config_file;
  } else if (std::optional<std::string> from_env = env(EnvName("config"))) {
    config.config_file = *from_env;
  }
  std::map<std::string, RawValue> from_file;
  if (!config.config_file.empty()) {
    if (absl::Status st = LoadYaml(config.config_file, from_file); !st.ok()) {
      return st;
    }
  }

  for (const OptionSpec& o : kOptions) {
    RawValue raw;
    if (cli_opts[o.name]->count() > 0) {
      raw.origin = absl::StrCat("--", o.name);
      if (o.kind == Kind::kValue) {
        raw.values = {cli_values[o.name]};
      }
      if (o.kind == Kind::kList) {
        raw.values = cli_lists[o.name];
      }
      if (o.kind == Kind::kFlag) {
        raw.values = {cli_flags[o.name] ? "true" : "false"};
      }
    } else if (std::optional<std::string> e = env(EnvName(o.name))) {
      raw.origin = absl::StrCat("environment ", EnvName(o.name));
      raw.values = {*e};
    } else if (auto it = from_file.find(o.name); it != from_file.end()) {
      raw = it->second;
    } else {
      continue;  // default
    }
    if (absl::Status st = Apply(o.name, raw, config); !st.ok()) {
      return st;
    }
  }
  if (absl::Status st = CheckConsistency(config); !st.ok()) {
    return st;
  }
  return outcome;
}

}  // namespace probesnat::daemon
