#include "agent/daemon/daemon_config.h"

#include <sys/un.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <utility>

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
#include "base/build_version.h"
#include "base/k8s_names.h"
#include "base/port.h"
#include "yaml-cpp/yaml.h"

namespace probesnat::daemon {
namespace {

std::string VersionLine() { return absl::StrCat("probesnatd ", BuildVersion()); }

std::string EnvName(absl::string_view option) {
  return absl::StrCat("PROBESNAT_",
                      absl::AsciiStrToUpper(absl::StrReplaceAll(option, {{"-", "_"}})));
}

// An empty value (no TCP listener, no extra uids) as help and log lines show it.
std::string ShownOrNone(const std::string& shown) { return shown.empty() ? "none" : shown; }

// ---- Text to values and back, per type ------------------------------------------------------

// The value of a kValue or kSwitch option.
const std::string& Single(const std::vector<std::string>& values) {
  static const std::string kEmpty;
  return values.empty() ? kEmpty : values.front();
}

// The items of a kList option: every value split at commas, blanks trimmed, empty items dropped,
// repeats dropped.
std::vector<std::string> Items(const std::vector<std::string>& values) {
  std::vector<std::string> items;
  for (const std::string& value : values) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      std::string item(absl::StripAsciiWhitespace(part));
      if (std::find(items.begin(), items.end(), item) == items.end()) {
        items.push_back(std::move(item));
      }
    }
  }
  return items;
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
  if (!v.ok() || !IsPort(*v)) {
    return absl::InvalidArgumentError("not a port number 1-65535");
  }
  return static_cast<uint16_t>(*v);
}

// Each codec turns an option's text into a value of one type (Parse, errors state the problem)
// and a value back into text Parse accepts (Show), and says how the option is written (kShape).
struct PortCodec {
  using Value = uint16_t;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    return ParsePort(Single(values));
  }
  static std::string Show(Value v) { return absl::StrCat(v); }
};

struct MarkCodec {
  using Value = uint32_t;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    return ParseUint32(Single(values));
  }
  static std::string Show(Value v) { return absl::StrCat("0x", absl::Hex(v)); }
};

struct SwitchCodec {
  using Value = bool;
  static constexpr OptionShape kShape = OptionShape::kSwitch;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    return ParseBool(Single(values));
  }
  static std::string Show(Value v) { return v ? "true" : "false"; }
};

struct TextCodec {
  using Value = std::string;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    return Single(values);
  }
  static std::string Show(const Value& v) { return v; }
};

struct LogFormatCodec {
  using Value = LogFormat;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    std::string name = absl::AsciiStrToLower(Single(values));
    if (name == "text") {
      return LogFormat::kText;
    }
    if (name == "json") {
      return LogFormat::kJson;
    }
    return absl::InvalidArgumentError("must be text or json");
  }
  static std::string Show(const Value& v) { return v == LogFormat::kJson ? "json" : "text"; }
};

struct TextListCodec {
  using Value = std::vector<std::string>;
  static constexpr OptionShape kShape = OptionShape::kList;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    return Items(values);
  }
  static std::string Show(const Value& v) { return absl::StrJoin(v, ","); }
};

// Numeric uids or gids; -1 (4294967295) is "no id" to the kernel, so it is refused.
struct IdListCodec {
  using Value = std::vector<uint32_t>;
  static constexpr OptionShape kShape = OptionShape::kList;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    Value ids;
    for (const std::string& item : Items(values)) {
      uint32_t id = 0;
      if (item.empty() || !std::all_of(item.begin(), item.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(item, &id) || id == static_cast<uint32_t>(-1)) {
        return absl::InvalidArgumentError(absl::StrCat("\"", item, "\" is not a numeric id"));
      }
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
        ids.push_back(id);
      }
    }
    return ids;
  }
  static std::string Show(const Value& v) { return absl::StrJoin(v, ","); }
};

struct IpCodec {
  using Value = IpAddress;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    absl::StatusOr<IpAddress> ip =
        IpAddress::Parse(std::string(absl::StripAsciiWhitespace(Single(values))));
    if (!ip.ok()) {
      return absl::InvalidArgumentError("not an IP address");
    }
    return *ip;
  }
  static std::string Show(const Value& v) { return v.ToString(); }
};

struct LogLevelCodec {
  using Value = spdlog::level::level_enum;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static constexpr std::pair<const char*, Value> kNames[] = {{"trace", spdlog::level::trace},
                                                             {"debug", spdlog::level::debug},
                                                             {"info", spdlog::level::info},
                                                             {"warn", spdlog::level::warn},
                                                             {"error", spdlog::level::err}};
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    std::string name = absl::AsciiStrToLower(Single(values));
    for (const auto& [n, level] : kNames) {
      if (name == n) {
        return level;
      }
    }
    return absl::InvalidArgumentError("expected trace, debug, info, warn or error");
  }
  static std::string Show(Value v) {
    for (const auto& [n, level] : kNames) {
      if (v == level) {
        return n;
      }
    }
    return std::string(spdlog::level::to_string_view(v).data());
  }
};

struct PolicyModeCodec {
  using Value = PolicyMode;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    std::string name = absl::AsciiStrToLower(Single(values));
    for (PolicyMode mode : {PolicyMode::kOff, PolicyMode::kWarn, PolicyMode::kEnforce}) {
      if (name == PolicyModeName(mode)) {
        return mode;
      }
    }
    return absl::InvalidArgumentError("expected off, warn or enforce");
  }
  static std::string Show(Value v) { return PolicyModeName(v); }
};

struct ProbeOriginCodec {
  using Value = ProbeOriginMode;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    std::string name = absl::AsciiStrToLower(Single(values));
    for (ProbeOriginMode mode :
         {ProbeOriginMode::kAuto, ProbeOriginMode::kAnyLocal, ProbeOriginMode::kCgroup}) {
      if (name == ProbeOriginModeName(mode)) {
        return mode;
      }
    }
    return absl::InvalidArgumentError("expected auto, any-local or cgroup");
  }
  static std::string Show(Value v) { return ProbeOriginModeName(v); }
};

// "5s", "500ms", "1m" (absl::ParseDuration) or plain seconds.
struct DurationCodec {
  using Value = absl::Duration;
  static constexpr OptionShape kShape = OptionShape::kValue;
  static absl::StatusOr<Value> Parse(const std::vector<std::string>& values) {
    const std::string& v = Single(values);
    int64_t seconds = 0;
    if (absl::SimpleAtoi(v, &seconds)) {
      return absl::Seconds(seconds);
    }
    absl::Duration d;
    if (!absl::ParseDuration(v, &d)) {
      return absl::InvalidArgumentError("not a duration (e.g. 5s, 500ms, 1m; 0 disables)");
    }
    return d;
  }
  static std::string Show(Value v) { return absl::FormatDuration(v); }
};

// ---- What a value must satisfy beyond its type ---------------------------------------------

// Refuses a value, or accepts it and adds a doubt about it to `warnings`.
template <typename Value>
using Check = absl::Status (*)(const Value& value, std::vector<std::string>& warnings);

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

constexpr char kBypassesMeshSecurity[] =
    "make sure no real peer uses it, traffic from it bypasses mesh security";

absl::Status CheckProbeV4(const IpAddress& ip, std::vector<std::string>& warnings) {
  if (!ip.is_v4()) {
    return absl::InvalidArgumentError("not an IPv4 address");
  }
  if (!ip.is_link_local()) {
    warnings.push_back(
        absl::StrCat("probe-v4 ", ip.ToString(),
                     " is not link-local (169.254.0.0/16): ", kBypassesMeshSecurity));
  }
  return absl::OkStatus();
}

absl::Status CheckProbeV6(const IpAddress& ip, std::vector<std::string>& warnings) {
  if (ip.is_v4()) {
    return absl::InvalidArgumentError("not an IPv6 address");
  }
  // The mesh-compatible default, fd16:..., is unique-local.
  if (!ip.is_link_local() && !ip.is_unique_local()) {
    warnings.push_back(absl::StrCat("probe-v6 ", ip.ToString(),
                                    " is neither link-local (fe80::/10) nor unique-local "
                                    "(fc00::/7): ",
                                    kBypassesMeshSecurity));
  }
  return absl::OkStatus();
}

absl::Status CheckSocketPath(const std::string& path, std::vector<std::string>&) {
  if (!IsNormalizedAbsolutePath(path) || path == "/") {
    return absl::InvalidArgumentError("must be an absolute, normalized file path");
  }
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("longer than ", sizeof(sockaddr_un{}.sun_path) - 1, " characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckStateFile(const std::string& path, std::vector<std::string>&) {
  if (!path.empty() && (!IsNormalizedAbsolutePath(path) || path == "/")) {
    return absl::InvalidArgumentError("must be an absolute, normalized file path");
  }
  return absl::OkStatus();
}

absl::Status CheckDaemonSetName(const std::string& object, std::vector<std::string>&) {
  if (object.empty()) {
    return absl::OkStatus();
  }
  std::vector<std::string> parts = absl::StrSplit(object, '/');
  if (parts.size() != 2 || !IsDns1123Label(parts[0]) || !IsDns1123Subdomain(parts[1])) {
    return absl::InvalidArgumentError(
        "must be namespace/name of a DaemonSet, e.g. probesnat-system/probesnat");
  }
  return absl::OkStatus();
}

absl::Status CheckKubernetesApi(const std::string& url, std::vector<std::string>&) {
  if (!url.empty() &&
      (!absl::StartsWith(url, "https://") || url.size() == 8 || absl::EndsWith(url, "/"))) {
    return absl::InvalidArgumentError("must be https://host:port (no trailing slash)");
  }
  return absl::OkStatus();
}

absl::Status CheckDirectory(const std::string& path, std::vector<std::string>&) {
  if (!IsNormalizedAbsolutePath(path)) {
    return absl::InvalidArgumentError("must be an absolute, normalized directory path");
  }
  return absl::OkStatus();
}

absl::Status CheckListenTcp(const std::string& address, std::vector<std::string>&) {
  if (address.empty()) {
    return absl::OkStatus();
  }
  return ValidateLoopbackListenAddress(address);
}

absl::Status CheckMetricsListen(const std::string& address, std::vector<std::string>&) {
  if (address.empty()) {
    return absl::OkStatus();
  }
  return ValidateMetricsListenAddress(address);
}

absl::Status CheckTokenFile(const std::string& path, std::vector<std::string>&) {
  if (!path.empty() && !IsNormalizedAbsolutePath(path)) {
    return absl::InvalidArgumentError("must be an absolute, normalized file path");
  }
  return absl::OkStatus();
}

absl::Status CheckNetnsRoots(const std::vector<std::string>& roots, std::vector<std::string>&) {
  for (const std::string& root : roots) {
    if (!IsNormalizedAbsolutePath(root) || root == "/") {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", root, "\" is not an absolute, normalized directory other than /"));
    }
  }
  if (roots.empty()) {
    return absl::InvalidArgumentError("at least one directory is required");
  }
  return absl::OkStatus();
}

absl::Status CheckResyncInterval(const absl::Duration& d, std::vector<std::string>&) {
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("must not be negative");
  }
  if (d > absl::ZeroDuration() && d < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("must be 0 (off) or at least 100ms");
  }
  return absl::OkStatus();
}

// ---- The rows -------------------------------------------------------------------------------

// An option of Codec's type stored in `field` (and in every `also`: the same value held twice),
// which is a function from a DaemonConfig (const or not) to a reference to the field.
template <typename Codec, typename Field, typename... Also>
DaemonOption Row(const char* name, const char* help, Check<typename Codec::Value> check,
                 Field field, Also... also) {
  auto set = [field, check, also...](const std::vector<std::string>& values,
                                     DaemonConfig& config) -> absl::Status {
    absl::StatusOr<typename Codec::Value> value = Codec::Parse(values);
    if (!value.ok()) {
      return value.status();
    }
    if (check != nullptr) {
      if (absl::Status st = check(*value, config.warnings); !st.ok()) {
        return st;
      }
    }
    ((also(config) = *value), ...);
    field(config) = *std::move(value);
    return absl::OkStatus();
  };
  auto show = [field](const DaemonConfig& config) { return Codec::Show(field(config)); };
  return DaemonOption{name, Codec::kShape, help, std::move(set), std::move(show)};
}

// The relations between options, checked once every option has its value.
absl::Status CheckAcrossOptions(DaemonConfig& c) {
  if (!c.listen_tcp.empty() && c.listen_tcp_token_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen-tcp ", c.listen_tcp,
                     " requires listen-tcp-token-file: every local user can reach a loopback "
                     "port, so TCP callers must send a bearer token"));
  }
  if (c.listen_tcp.empty() && !c.listen_tcp_token_file.empty()) {
    c.warnings.push_back("listen-tcp-token-file is set but listen-tcp is not; the file is unused");
  }
  const netfilter::PodRules& r = c.pod_rules;
  if (r.tunnel_port == r.inbound_capture_port || r.tunnel_port == r.outbound_capture_port ||
      r.inbound_capture_port == r.outbound_capture_port) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tunnel-port (", r.tunnel_port, "), inbound-port (", r.inbound_capture_port,
        ") and outbound-port (", r.outbound_capture_port, ") must be three different ports"));
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
  if (c.host_rules.origin_ct_mark == 0) {
    return absl::InvalidArgumentError("origin-ct-mark must not be 0");
  }
  if (!c.kubelet_cgroup.empty() && c.probe_origin == ProbeOriginMode::kAnyLocal) {
    c.warnings.push_back("kubelet-cgroup is set but probe-origin is any-local; it is unused");
  }
  if (absl::StrContains(c.kubelet_cgroup, "..")) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubelet-cgroup ", c.kubelet_cgroup, " must not contain \"..\""));
  }
  if (absl::Status st = mark("proxy", r.proxy_mark, r.proxy_mask); !st.ok()) {
    return st;
  }
  return mark("connection", r.connection_mark, r.connection_mask);
}

// ---- Reading the sources --------------------------------------------------------------------

// An option's values and where they came from.
struct RawValue {
  std::vector<std::string> values;
  std::string origin;  // "--x", "environment PROBESNAT_X", "config file F key x"
};

const DaemonOption* FindOption(absl::string_view name) {
  for (const DaemonOption& o : DaemonOptions()) {
    if (o.name == name) {
      return &o;
    }
  }
  return nullptr;
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
    const DaemonOption* option = FindOption(key);
    if (option == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", path, ": unknown key \"", key, "\""));
    }
    const bool list = option->shape == OptionShape::kList;
    RawValue raw;
    raw.origin = absl::StrCat("config file ", path, " key ", key);
    const YAML::Node& v = kv.second;
    if (v.IsSequence() && list) {
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
      return absl::InvalidArgumentError(
          absl::StrCat(raw.origin, list ? ": expected a string or a list of strings"
                                        : ": expected a single value"));
    }
    out[key] = std::move(raw);
  }
  return absl::OkStatus();
}

// Where CLI11 leaves what the command line says about one option.
struct CommandLineSlot {
  CLI::Option* option = nullptr;
  std::string value;                // kValue
  std::vector<std::string> values;  // kList
  bool on = false;                  // kSwitch
};

}  // namespace

const std::vector<DaemonOption>& DaemonOptions() {
  static const std::vector<DaemonOption> kOptions = {
      Row<IpCodec>(
          "probe-v4", "IPv4 source address for node-originated probes (link-local)", CheckProbeV4,
          [](auto& c) -> auto& { return c.host_rules.probe_v4; },
          [](auto& c) -> auto& { return c.pod_rules.probe_v4; }),
      Row<IpCodec>(
          "probe-v6", "IPv6 source address for node-originated probes", CheckProbeV6,
          [](auto& c) -> auto& { return c.host_rules.probe_v6; },
          [](auto& c) -> auto& { return c.pod_rules.probe_v6; }),
      Row<PortCodec>(
          "tunnel-port", "HBONE tunnel port of the mesh proxy", nullptr,
          [](auto& c) -> auto& { return c.pod_rules.tunnel_port; }),
      Row<PortCodec>(
          "inbound-port", "inbound plaintext capture port", nullptr,
          [](auto& c) -> auto& { return c.pod_rules.inbound_capture_port; }),
      Row<PortCodec>(
          "outbound-port", "outbound capture port", nullptr,
          [](auto& c) -> auto& { return c.pod_rules.outbound_capture_port; }),
      Row<MarkCodec>(
          "proxy-mark", "packet mark of the proxy's own traffic, hex or decimal", nullptr,
          [](auto& c) -> auto& { return c.pod_rules.proxy_mark; }),
      Row<MarkCodec>(
          "proxy-mask", "mask for --proxy-mark", nullptr,
          [](auto& c) -> auto& { return c.pod_rules.proxy_mask; }),
      Row<MarkCodec>(
          "connection-mark", "connection mark for proxy-accepted inbound", nullptr,
          [](auto& c) -> auto& { return c.pod_rules.connection_mark; }),
      Row<MarkCodec>(
          "connection-mask", "mask for --connection-mark", nullptr,
          [](auto& c) -> auto& { return c.pod_rules.connection_mask; }),
      Row<ProbeOriginCodec>(
          "probe-origin",
          "which local sockets get the probe address: cgroup (only the kubelet's cgroup v2), "
          "any-local (every process in the node's network namespace) or auto (cgroup when a "
          "kubelet cgroup is found at start, else any-local with a warning)",
          nullptr, [](auto& c) -> auto& { return c.probe_origin; }),
      Row<TextCodec>(
          "kubelet-cgroup",
          "the kubelet's cgroup v2 path relative to the hierarchy's root, e.g. "
          "system.slice/kubelet.service (empty: from the kubelet process or its systemd unit)",
          nullptr, [](auto& c) -> auto& { return c.kubelet_cgroup; }),
      Row<TextCodec>(
          "cgroup-root",
          "where the node's cgroup v2 hierarchy is mounted (empty: the cgroup2 mount in "
          "/proc/self/mountinfo)",
          nullptr, [](auto& c) -> auto& { return c.cgroup_root; }),
      Row<MarkCodec>(
          "origin-ct-mark",
          "connection-mark bit(s) the host table sets on the kubelet's connections to enrolled "
          "pods (probe-origin cgroup)",
          nullptr, [](auto& c) -> auto& { return c.host_rules.origin_ct_mark; }),
      Row<TextCodec>(
          "socket", "unix socket to serve on", CheckSocketPath,
          [](auto& c) -> auto& { return c.socket_path; }),
      Row<TextCodec>(
          "state-file",
          "file the agent keeps its enrolled pods in across restarts; none: \"state\" in the "
          "directory of --socket",
          CheckStateFile, [](auto& c) -> auto& { return c.state_file; }),
      Row<TextCodec>(
          "listen-tcp",
          "also serve on this loopback address, e.g. 127.0.0.1:50071 (needs listen-tcp-token-file)",
          CheckListenTcp, [](auto& c) -> auto& { return c.listen_tcp; }),
      Row<TextCodec>(
          "listen-tcp-token-file",
          "file (root-owned, mode 0600/0400) with the bearer token every TCP call must "
          "send as \"authorization: Bearer <token>\"",
          CheckTokenFile, [](auto& c) -> auto& { return c.listen_tcp_token_file; }),
      Row<IdListCodec>(
          "allowed-uids",
          "uids besides 0 that may call over the unix socket (SO_PEERCRED), comma-separated",
          nullptr, [](auto& c) -> auto& { return c.allowed_peers.uids; }),
      Row<IdListCodec>(
          "allowed-gids",
          "gids whose members (primary or supplementary group) may call over the unix socket",
          nullptr, [](auto& c) -> auto& { return c.allowed_peers.gids; }),
      Row<LogLevelCodec>(
          "log-level", "trace|debug|info|warn|error", nullptr,
          [](auto& c) -> auto& { return c.log_level; }),
      Row<LogFormatCodec>(
          "log-format", "text (one line per event) or json (one JSON object per line)", nullptr,
          [](auto& c) -> auto& { return c.log_format; }),
      Row<TextCodec>(
          "metrics-listen",
          "serve Prometheus /metrics, /healthz and /readyz over HTTP on this address: loopback, "
          "e.g. 127.0.0.1:9464, or one of the node's, e.g. $(HOST_IP):9464 in the DaemonSet",
          CheckMetricsListen, [](auto& c) -> auto& { return c.metrics_listen; }),
      Row<TextListCodec>(
          "allowed-netns-root", "directory pod network namespaces must lie under; repeatable",
          CheckNetnsRoots, [](auto& c) -> auto& { return c.allowed_netns_roots; }),
      Row<PolicyModeCodec>(
          "policy-mode", "NetworkPolicy check: off|warn|enforce", nullptr,
          [](auto& c) -> auto& { return c.policy_mode; }),
      Row<SwitchCodec>(
          "cleanup-on-exit",
          "remove every table on SIGTERM/SIGINT (false: rules outlive the agent)", nullptr,
          [](auto& c) -> auto& { return c.cleanup_on_exit; }),
      Row<TextCodec>(
          "uninstall-with-daemonset",
          "namespace/name of the agent's own DaemonSet: on SIGTERM/SIGINT, ask the Kubernetes "
          "API and uninstall when it is gone or being deleted (empty: only probesnatctl "
          "uninstall decides)",
          CheckDaemonSetName, [](auto& c) -> auto& { return c.uninstall_with_daemonset; }),
      Row<TextCodec>(
          "kubernetes-api",
          "URL of the Kubernetes API for uninstall-with-daemonset (empty: "
          "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)",
          CheckKubernetesApi, [](auto& c) -> auto& { return c.kubernetes_api; }),
      Row<TextCodec>(
          "kubernetes-credentials-dir",
          "directory with the service account's token and ca.crt for uninstall-with-daemonset",
          CheckDirectory, [](auto& c) -> auto& { return c.kubernetes_credentials_dir; }),
      Row<DurationCodec>(
          "resync-interval", "drift check period, e.g. 5s, 500ms; 0 disables", CheckResyncInterval,
          [](auto& c) -> auto& { return c.resync_interval; }),
      Row<SwitchCodec>(
          "readback-after-apply",
          "read each pod table back before reporting APPLIED (false: the drift check "
          "reads every table back)",
          nullptr, [](auto& c) -> auto& { return c.readback_after_apply; }),
  };
  return kOptions;
}

std::string StateFilePath(const DaemonConfig& config) {
  if (!config.state_file.empty()) {
    return config.state_file;
  }
  size_t slash = config.socket_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : config.socket_path.substr(0, slash);
  return absl::StrCat(dir.empty() ? "" : dir, "/state");
}

std::vector<std::string> ChangedOptions(const DaemonConfig& a, const DaemonConfig& b) {
  std::vector<std::string> changed;
  for (const DaemonOption& o : DaemonOptions()) {
    if (o.show(a) != o.show(b)) {
      changed.push_back(o.name);
    }
  }
  return changed;
}

std::string DescribeConfig(const DaemonConfig& config) {
  return absl::StrJoin(DaemonOptions(), " ", [&config](std::string* out, const DaemonOption& o) {
    absl::StrAppend(out, o.name, "=", ShownOrNone(o.show(config)));
  });
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
  app.set_version_flag("--version", VersionLine());
  std::string config_file;
  CLI::Option* config_opt =
      app.add_option("--config", config_file, "YAML file with option: value pairs");
  const std::vector<DaemonOption>& options = DaemonOptions();
  const DaemonConfig defaults;
  std::vector<CommandLineSlot> slots(options.size());
  for (size_t i = 0; i < options.size(); ++i) {
    const DaemonOption& o = options[i];
    CommandLineSlot& slot = slots[i];
    std::string flag = absl::StrCat("--", o.name);
    std::string help = absl::StrCat(o.help, " (default ", ShownOrNone(o.show(defaults)), ")");
    switch (o.shape) {
      case OptionShape::kValue:
        slot.option = app.add_option(flag, slot.value, help);
        break;
      case OptionShape::kList:
        slot.option = app.add_option(flag, slot.values, help)->delimiter(',');
        break;
      case OptionShape::kSwitch:
        slot.option = app.add_flag(flag, slot.on, help);
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
    return ConfigOutcome{true, absl::StrCat(VersionLine(), "\n"), {}};
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

  for (size_t i = 0; i < options.size(); ++i) {
    const DaemonOption& o = options[i];
    const CommandLineSlot& slot = slots[i];
    RawValue raw;
    if (slot.option->count() > 0) {
      raw.origin = absl::StrCat("--", o.name);
      switch (o.shape) {
        case OptionShape::kValue:
          raw.values = {slot.value};
          break;
        case OptionShape::kList:
          raw.values = slot.values;
          break;
        case OptionShape::kSwitch:
          raw.values = {slot.on ? "true" : "false"};
          break;
      }
    } else if (std::optional<std::string> e = env(EnvName(o.name))) {
      raw.origin = absl::StrCat("environment ", EnvName(o.name));
      raw.values = {*e};
    } else if (auto it = from_file.find(o.name); it != from_file.end()) {
      raw = it->second;
    } else {
      continue;  // default
    }
    if (absl::Status st = o.set(raw.values, config); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid ", o.name, " \"",
                                                     absl::StrJoin(raw.values, ","), "\" (from ",
                                                     raw.origin, "): ", st.message()));
    }
  }
  if (absl::Status st = CheckAcrossOptions(config); !st.ok()) {
    return st;
  }
  return outcome;
}

}  // namespace probesnat::daemon
