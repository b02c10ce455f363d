#include "agent/daemon/pod_validation.h"

#include <limits.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/daemon/log_format.h"
#include "agent/domain/wire.h"
#include "base/k8s_names.h"
#include "base/port.h"
#include "netfilter/netns.h"

namespace probesnat::daemon {
namespace {

using netfilter::InterfaceAddress;

constexpr size_t kMaxUidLength = 128;
// PATH_MAX counts the terminating NUL.
constexpr size_t kMaxNetnsPathLength = PATH_MAX - 1;
// Longer than any textual IPv6 address (INET6_ADDRSTRLEN - 1 = 45).
constexpr size_t kMaxIpTextLength = 45;

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// The client's text in quotes, escaped and capped for an error message.
std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", EscapeClientText(text), "\"");
}

bool HasControlCharacter(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
}

bool AllDigits(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// Why an address cannot be a pod address, or empty when it can. Private ranges, CGNAT
// (100.64.0.0/10) and the documentation ranges are allowed: clusters use them for pods.
std::string UnusablePodAddressReason(const IpAddress& ip) {
  if (ip.is_unspecified()) {
    return ip.is_v4() ? "is unspecified (0.0.0.0/8)" : "is unspecified (::)";
  }
  if (ip.is_loopback()) {
    return "is a loopback address";
  }
  if (ip.is_multicast()) {
    return "is a multicast address";
  }
  if (ip.is_link_local()) {
    return "is a link-local address";
  }
  if (ip.is_broadcast()) {
    return "is the broadcast address";
  }
  if (ip.is_reserved_v4()) {
    return "is in the reserved range 240.0.0.0/4";
  }
  if (ip.is_v4_mapped()) {
    return "is an IPv4-mapped IPv6 address; give the IPv4 address instead";
  }
  if (ip.is_v4_compatible()) {
    return "is an IPv4-compatible IPv6 address (::/96, deprecated); give the IPv4 address instead";
  }
  if (ip.is_nat64()) {
    return "is a NAT64 translation address (64:ff9b::/96, 64:ff9b:1::/48), not a pod address";
  }
  return "";
}

// Why `ip` would let a pod's traffic pass as the probe address `probe`, or empty.
std::string ProbeConflictReason(const IpAddress& ip, const IpAddress& probe) {
  if (ip == probe) {
    return absl::StrCat(
        "is the probe SNAT address; traffic from the pod would pass as kubelet "
        "probes");
  }
  if (probe.is_v4()) {
    if (std::optional<IpAddress> v4 = ip.EmbeddedV4(); v4.has_value() && *v4 == probe) {
      return absl::StrCat("embeds the probe SNAT address ", probe.ToString());
    }
    return "";
  }
  if (ip.is_v6() && std::equal(ip.data(), ip.data() + 8, probe.data())) {
    std::array<uint8_t, 16> prefix{};
    std::copy(probe.data(), probe.data() + 8, prefix.begin());
    return absl::StrCat("is inside the probe SNAT address's /64 (",
                        IpAddress::V6(prefix).ToString(), "/64), which is reserved for it");
  }
  return "";
}

bool IsNormalizedAbsolute(absl::string_view path) {
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
  }
  return true;
}

// /proc/<pid>/ns/net or /proc/<pid>/task/<tid>/ns/net.
bool IsProcNetnsPath(absl::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  // parts[0] is the empty string before the leading '/'.
  if (parts.size() == 5) {
    return parts[1] == "proc" && AllDigits(parts[2]) && parts[3] == "ns" && parts[4] == "net";
  }
  if (parts.size() == 7) {
    return parts[1] == "proc" && AllDigits(parts[2]) && parts[3] == "task" && AllDigits(parts[4]) &&
           parts[5] == "ns" && parts[6] == "net";
  }
  return false;
}

bool IsUnderRoot(absl::string_view path, absl::string_view root) {
  if (root == "/proc") {
    return IsProcNetnsPath(path);
  }
  return path.size() > root.size() + 1 && absl::StartsWith(path, root) && path[root.size()] == '/';
}

}  // namespace

absl::Status ValidateUid(absl::string_view field, const std::string& uid) {
  if (uid.empty()) {
    return FieldError(field, "required");
  }
  if (uid.size() > kMaxUidLength) {
    return FieldError(field, absl::StrCat("longer than ", kMaxUidLength, " characters"));
  }
  for (char c : uid) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_') {
      return FieldError(
          field, absl::StrCat(Quoted(uid), " may contain only letters, digits, '-', '.' and '_'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDns1123Label(absl::string_view field, const std::string& value) {
  if (value.empty()) {
    return FieldError(field, "required");
  }
  if (!IsDns1123Label(value)) {
    return FieldError(field, absl::StrCat(Quoted(value),
                                          " is not a DNS-1123 label (at most 63 characters of "
                                          "[a-z0-9-], starting and ending with [a-z0-9])"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDns1123Subdomain(absl::string_view field, const std::string& value) {
  if (value.empty()) {
    return FieldError(field, "required");
  }
  if (!IsDns1123Subdomain(value)) {
    return FieldError(field, absl::StrCat(Quoted(value),
                                          " is not a DNS-1123 subdomain (at most 253 characters "
                                          "of [a-z0-9-.], each part starting and ending with "
                                          "[a-z0-9])"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IpAddress>> ValidatePodIps(
    absl::string_view field, const google::protobuf::RepeatedPtrField<std::string>& ips,
    const std::vector<IpAddress>& probe_addresses, const NodeAddressLister& node_addresses) {
  if (ips.empty()) {
    return FieldError(field, "at least one IP address is required");
  }
  if (ips.size() > 2) {
    return FieldError(field,
                      absl::StrCat("at most 2 addresses (one IPv4, one IPv6), got ", ips.size()));
  }
  std::vector<IpAddress> parsed;
  for (int i = 0; i < ips.size(); ++i) {
    std::string item = absl::StrCat(field, "[", i, "]");
    // inet_pton stops at a NUL: "1.2.3.4\0junk" must not pass as 1.2.3.4.
    absl::StatusOr<IpAddress> ip = absl::InvalidArgumentError("");
    if (ips[i].size() <= kMaxIpTextLength && !absl::StrContains(ips[i], '\0')) {
      ip = IpAddress::Parse(ips[i]);
    }
    if (!ip.ok()) {
      return FieldError(item, absl::StrCat(Quoted(ips[i]), " is not an IP address"));
    }
    const std::string text = ip->ToString();
    if (std::string reason = UnusablePodAddressReason(*ip); !reason.empty()) {
      return FieldError(item, absl::StrCat(text, " ", reason));
    }
    for (const IpAddress& probe : probe_addresses) {
      if (std::string reason = ProbeConflictReason(*ip, probe); !reason.empty()) {
        return FieldError(item, absl::StrCat(text, " ", reason));
      }
    }
    for (int j = 0; j < static_cast<int>(parsed.size()); ++j) {
      if (parsed[j] == *ip) {
        return FieldError(item, absl::StrCat(text, " duplicates ", field, "[", j, "]"));
      }
      if (parsed[j].family() == ip->family()) {
        return FieldError(item, absl::StrCat("a second ", ip->is_v4() ? "IPv4" : "IPv6",
                                             " address; at most one per family"));
      }
    }
    parsed.push_back(*ip);
  }
  if (node_addresses) {
    absl::StatusOr<std::vector<InterfaceAddress>> own = node_addresses();
    if (!own.ok()) {
      return absl::InternalError(absl::StrCat(
          field, ": cannot compare with the node's addresses: ", own.status().message()));
    }
    for (int i = 0; i < static_cast<int>(parsed.size()); ++i) {
      for (const InterfaceAddress& a : *own) {
        if (a.address == parsed[i]) {
          return FieldError(
              absl::StrCat(field, "[", i, "]"),
              absl::StrCat(parsed[i].ToString(), " is an address of the node (interface ",
                           EscapeClientText(a.interface),
                           "); enrolling it would capture the node's own traffic"));
        }
      }
    }
  }
  std::sort(parsed.begin(), parsed.end());
  return parsed;
}

absl::StatusOr<netfilter::NetnsHandle> ValidateNetnsPath(absl::string_view field,
                                                         const std::string& path,
                                                         const ValidationOptions& options) {
  if (path.empty()) {
    return FieldError(field, "required");
  }
  if (path.size() > kMaxNetnsPathLength) {
    return FieldError(field, absl::StrCat("longer than ", kMaxNetnsPathLength,
                                          " bytes (PATH_MAX), got ", path.size()));
  }
  if (HasControlCharacter(path)) {
    // A NUL would cut the path the kernel sees short of the one validated here.
    return FieldError(field,
                      absl::StrCat(Quoted(path), " contains a NUL or another control character"));
  }
  if (!IsNormalizedAbsolute(path)) {
    return FieldError(field, absl::StrCat(Quoted(path),
                                          " must be an absolute, normalized path (no '.', '..', "
                                          "'//' or trailing '/')"));
  }
  auto root = std::find_if(options.allowed_netns_roots.begin(), options.allowed_netns_roots.end(),
                           [&](const std::string& r) { return IsUnderRoot(path, r); });
  if (root == options.allowed_netns_roots.end()) {
    return FieldError(
        field,
        absl::StrCat(Quoted(path), " is not under an allowed network namespace root (",
                     absl::StrJoin(options.allowed_netns_roots, ", "),
                     "; under /proc only /proc/<pid>/ns/net and /proc/<pid>/task/<tid>/ns/net)"));
  }
  absl::StatusOr<netfilter::NetnsHandle> netns = options.open_netns(*root, path);
  if (absl::IsNotFound(netns.status())) {
    return FieldError(field, absl::StrCat(Quoted(path), " does not exist"));
  }
  if (absl::IsInvalidArgument(netns.status())) {
    return FieldError(field, netns.status().message());
  }
  if (!netns.ok()) {
    // The agent could not open a valid path (a missing privilege, a transient kernel error): not
    // the caller's mistake, so not INVALID_ARGUMENT; the code says whether retrying helps.
    return absl::Status(netns.status().code(), absl::StrCat(field, ": ", netns.status().message()));
  }
  return netns;
}

absl::Status ValidatePort(absl::string_view field, uint32_t port) {
  if (!IsPort(port)) {
    return FieldError(field, absl::StrCat(port, " is not a port number 1-65535"));
  }
  return absl::OkStatus();
}

namespace {

std::string LabelKeyProblem(absl::string_view key) {
  absl::string_view name = key;
  size_t slash = key.find('/');
  if (slash != absl::string_view::npos) {
    name = key.substr(slash + 1);
    if (!IsDns1123Subdomain(key.substr(0, slash))) {
      return "the prefix before '/' is not a DNS-1123 subdomain (at most 253 characters of "
             "[a-z0-9-.])";
    }
  }
  // A label key's name part follows a label value's rules, but may not be empty.
  if (name.empty() || !IsLabelValue(name)) {
    return "the name is not at most 63 characters of [A-Za-z0-9-_.] starting and ending with "
           "[A-Za-z0-9]";
  }
  return "";
}

}  // namespace

absl::Status ValidateLabels(absl::string_view field,
                            const google::protobuf::Map<std::string, std::string>& labels,
                            size_t max_labels) {
  if (labels.size() > max_labels) {
    return FieldError(field, absl::StrCat("at most ", max_labels, " labels, got ", labels.size()));
  }
  for (const auto& [key, value] : labels) {
    std::string item = absl::StrCat(field, "[", Quoted(key), "]");
    if (std::string problem = LabelKeyProblem(key); !problem.empty()) {
      return FieldError(item, absl::StrCat("bad label key: ", problem));
    }
    if (!IsLabelValue(value)) {
      return FieldError(item, absl::StrCat(Quoted(value),
                                           " is not a label value (empty, or at most 63 characters "
                                           "of [A-Za-z0-9-_.] starting and ending with "
                                           "[A-Za-z0-9])"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSyncSize(int pods, const ValidationLimits& limits) {
  if (pods > 0 && static_cast<size_t>(pods) > limits.max_sync_pods) {
    return FieldError("pods", absl::StrCat("at most ", limits.max_sync_pods,
                                           " pods in one Sync request, got ", pods));
  }
  return absl::OkStatus();
}

absl::StatusOr<DesiredPod> ValidatePod(absl::string_view field, const v1::Pod& pod,
                                       const ValidationOptions& options) {
  auto sub = [&](absl::string_view name) { return absl::StrCat(field, ".", name); };
  const ValidationLimits& limits = options.limits;
  if (absl::Status st = ValidateUid(sub("uid"), pod.uid()); !st.ok()) {
    return st;
  }
  if (absl::Status st = ValidateDns1123Label(sub("namespace"), pod.namespace_()); !st.ok()) {
    return st;
  }
  if (absl::Status st = ValidateDns1123Subdomain(sub("name"), pod.name()); !st.ok()) {
    return st;
  }
  if (absl::Status st = ValidateLabels(sub("labels"), pod.labels(), limits.max_labels); !st.ok()) {
    return st;
  }
  if (static_cast<size_t>(pod.container_ports_size()) > limits.max_container_ports) {
    return FieldError(sub("container_ports"),
                      absl::StrCat("at most ", limits.max_container_ports, " ports, got ",
                                   pod.container_ports_size()));
  }
  for (int i = 0; i < pod.container_ports_size(); ++i) {
    const v1::ContainerPort& cp = pod.container_ports(i);
    std::string item = sub(absl::StrCat("container_ports[", i, "]"));
    if (absl::Status st = ValidatePort(item + ".port", cp.port()); !st.ok()) {
      return st;
    }
    const std::string& proto = cp.protocol();
    if (!proto.empty() && proto != "TCP" && proto != "UDP" && proto != "SCTP") {
      return FieldError(item + ".protocol",
                        absl::StrCat(Quoted(proto), " is not TCP, UDP or SCTP"));
    }
    if (!cp.name().empty() && !IsIanaServiceName(cp.name())) {
      return FieldError(item + ".name",
                        absl::StrCat(Quoted(cp.name()),
                                     " is not an IANA service name (at most 15 characters of "
                                     "[a-z0-9-] with a letter, no leading, trailing or double "
                                     "'-')"));
    }
  }
  if (static_cast<size_t>(pod.probe_ports_size()) > limits.max_probe_ports) {
    return FieldError(sub("probe_ports"), absl::StrCat("at most ", limits.max_probe_ports,
                                                       " ports, got ", pod.probe_ports_size()));
  }
  for (int i = 0; i < pod.probe_ports_size(); ++i) {
    absl::Status st = ValidatePort(sub(absl::StrCat("probe_ports[", i, "]")), pod.probe_ports(i));
    if (!st.ok()) {
      return st;
    }
  }
  // After the cheap checks: listing the node's addresses asks the kernel.
  absl::StatusOr<std::vector<IpAddress>> ips =
      ValidatePodIps(sub("ips"), pod.ips(), options.probe_addresses, options.node_addresses);
  if (!ips.ok()) {
    return ips.status();
  }
  absl::StatusOr<agent::PodSpec> spec = agent::PodFromWire(pod, field);
  if (!spec.ok()) {
    return spec.status();
  }
  spec->ips = *std::move(ips);
  // Last: the only check that touches the file system.
  absl::StatusOr<netfilter::NetnsHandle> netns =
      ValidateNetnsPath(sub("netns_path"), pod.netns_path(), options);
  if (!netns.ok()) {
    return netns.status();
  }
  return DesiredPod{*std::move(spec), *std::move(netns)};
}

absl::Status ValidateDistinctPods(const std::vector<DesiredPod>& pods) {
  std::map<std::string, size_t> uids, netns;
  std::map<IpAddress, size_t> ips;
  for (size_t i = 0; i < pods.size(); ++i) {
    std::string field = absl::StrCat("pods[", i, "]");
    if (auto [it, fresh] = uids.emplace(pods[i].uid(), i); !fresh) {
      return FieldError(field + ".uid", absl::StrCat("\"", pods[i].uid(),
                                                     "\" also appears in pods[", it->second, "]"));
    }
    if (auto [it, fresh] = netns.emplace(pods[i].netns_path(), i); !fresh) {
      return FieldError(
          field + ".netns_path",
          absl::StrCat(pods[i].netns_path(), " is also the namespace of pods[", it->second, "]"));
    }
    for (const IpAddress& ip : pods[i].spec.ips) {
      if (auto [it, fresh] = ips.emplace(ip, i); !fresh) {
        return FieldError(
            field + ".ips",
            absl::StrCat(ip.ToString(), " is also an address of pods[", it->second, "]"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace probesnat::daemon
