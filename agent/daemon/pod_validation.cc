#include "agent/daemon/pod_validation.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "netfilter/netns.h"

namespace probesnat::daemon {
namespace {

using netfilter::IpAddress;

constexpr size_t kMaxUidLength = 128;
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxSubdomainLength = 253;
constexpr size_t kMaxPortNameLength = 15;
constexpr uint32_t kMaxPort = 65535;

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

bool IsLowerAlnum(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])? without the length limit.
bool IsDns1123LabelText(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool AllDigits(absl::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

// Why an address cannot be a pod address, or empty when it can.
std::string UnusablePodAddressReason(const IpAddress& ip) {
  const uint8_t* b = ip.data();
  if (ip.is_v4()) {
    if (b[0] == 0) {
      return "is unspecified (0.0.0.0/8)";
    }
    if (b[0] == 127) {
      return "is a loopback address";
    }
    if (b[0] >= 224 && b[0] <= 239) {
      return "is a multicast address";
    }
    if (b[0] == 169 && b[1] == 254) {
      return "is a link-local address";
    }
    if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) {
      return "is the broadcast address";
    }
    return "";
  }
  bool all_zero_but_last = std::all_of(b, b + 15, [](uint8_t x) { return x == 0; });
  if (all_zero_but_last && b[15] == 0) {
    return "is unspecified (::)";
  }
  if (all_zero_but_last && b[15] == 1) {
    return "is a loopback address";
  }
  if (b[0] == 0xff) {
    return "is a multicast address";
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    return "is a link-local address";
  }
  bool v4_mapped =
      std::all_of(b, b + 10, [](uint8_t x) { return x == 0; }) && b[10] == 0xff && b[11] == 0xff;
  if (v4_mapped) {
    return "is an IPv4-mapped IPv6 address; give the IPv4 address instead";
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

bool IsValidPortName(absl::string_view name) {
  // IANA_SVC_NAME: at most 15 characters, [a-z0-9-], at least one letter, no leading, trailing or
  // doubled '-'.
  if (name.size() > kMaxPortNameLength || name.front() == '-' || name.back() == '-' ||
      absl::StrContains(name, "--")) {
    return false;
  }
  bool has_letter = false;
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '-') {
      return false;
    }
    has_letter |= absl::ascii_islower(c);
  }
  return has_letter;
}

}  // namespace

absl::Status CheckIsNetns(const std::string& path) {
  // OpenNetns never blocks: a FIFO or device someone put under an allowed root is refused by its
  // type, found on the descriptor, not by a stat() of the path that may change afterwards.
  return netfilter::OpenNetns(path).status();
}

absl::Status CheckNetnsWithKernel(const std::string& path) {
  // Every thread of the agent stays in the namespace it started in (netfilter::RunInNetns).
  static const absl::StatusOr<netfilter::NetnsId> own = []() -> absl::StatusOr<netfilter::NetnsId> {
    absl::StatusOr<netfilter::NetnsHandle> netns =
        netfilter::OpenNetnsHandle("/proc/thread-self/ns/net");
    return netns.ok() ? absl::StatusOr<netfilter::NetnsId>(netns->id) : netns.status();
  }();
  absl::StatusOr<netfilter::NetnsHandle> netns = netfilter::OpenNetnsHandle(path);
  if (!netns.ok()) {
    return netns.status();
  }
  if (own.ok() && netns->id == *own) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is the agent's own (host) network namespace; hostNetwork pods cannot be enrolled"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUid(absl::string_view field, const std::string& uid) {
  if (uid.empty()) {
    return FieldError(field, "required");
  }
  if (uid.size() > kMaxUidLength) {
    return FieldError(field, absl::StrCat("longer than ", kMaxUidLength, " characters"));
  }
  for (char c : uid) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_') {
      return FieldError(field,
                        absl::StrCat("\"", absl::CEscape(uid),
                                     "\" may contain only letters, digits, '-', '.' and '_'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDns1123Label(absl::string_view field, const std::string& value) {
  if (value.empty()) {
    return FieldError(field, "required");
  }
  if (value.size() > kMaxLabelLength || !IsDns1123LabelText(value)) {
    return FieldError(field, absl::StrCat("\"", absl::CEscape(value),
                                          "\" is not a DNS-1123 label (at most 63 characters of "
                                          "[a-z0-9-], starting and ending with [a-z0-9])"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDns1123Subdomain(absl::string_view field, const std::string& value) {
  if (value.empty()) {
    return FieldError(field, "required");
  }
  bool ok = value.size() <= kMaxSubdomainLength;
  for (absl::string_view label : absl::StrSplit(value, '.')) {
    ok = ok && IsDns1123LabelText(label);
  }
  if (!ok) {
    return FieldError(field, absl::StrCat("\"", absl::CEscape(value),
                                          "\" is not a DNS-1123 subdomain (at most 253 characters "
                                          "of [a-z0-9-.], each part starting and ending with "
                                          "[a-z0-9])"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IpAddress>> ValidatePodIps(
    absl::string_view field, const google::protobuf::RepeatedPtrField<std::string>& ips,
    const std::vector<IpAddress>& probe_addresses) {
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
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(ips[i]);
    if (!ip.ok()) {
      return FieldError(item, absl::StrCat("\"", absl::CEscape(ips[i]), "\" is not an IP address"));
    }
    if (std::string reason = UnusablePodAddressReason(*ip); !reason.empty()) {
      return FieldError(item, absl::StrCat(ips[i], " ", reason));
    }
    if (std::find(probe_addresses.begin(), probe_addresses.end(), *ip) != probe_addresses.end()) {
      return FieldError(item, absl::StrCat(ips[i],
                                           " is the probe SNAT address; traffic from the pod would "
                                           "pass as kubelet probes"));
    }
    for (int j = 0; j < static_cast<int>(parsed.size()); ++j) {
      if (parsed[j] == *ip) {
        return FieldError(item, absl::StrCat(ips[i], " duplicates ", field, "[", j, "]"));
      }
      if (parsed[j].family() == ip->family()) {
        return FieldError(item, absl::StrCat("a second ", ip->is_v4() ? "IPv4" : "IPv6",
                                             " address; at most one per family"));
      }
    }
    parsed.push_back(*ip);
  }
  std::sort(parsed.begin(), parsed.end());
  return parsed;
}

absl::Status ValidateNetnsPath(absl::string_view field, const std::string& path,
                               const ValidationOptions& options) {
  if (path.empty()) {
    return FieldError(field, "required");
  }
  if (!IsNormalizedAbsolute(path)) {
    return FieldError(field, absl::StrCat("\"", absl::CEscape(path),
                                          "\" must be an absolute, normalized path (no '.', '..', "
                                          "'//' or trailing '/')"));
  }
  bool allowed = std::any_of(options.allowed_netns_roots.begin(), options.allowed_netns_roots.end(),
                             [&](const std::string& root) { return IsUnderRoot(path, root); });
  if (!allowed) {
    return FieldError(
        field,
        absl::StrCat(path, " is not under an allowed network namespace root (",
                     absl::StrJoin(options.allowed_netns_roots, ", "),
                     "; under /proc only /proc/<pid>/ns/net and /proc/<pid>/task/<tid>/ns/net)"));
  }
  absl::Status st = options.check_netns(path);
  if (absl::IsNotFound(st)) {
    return FieldError(field, absl::StrCat(path, " does not exist"));
  }
  if (!st.ok()) {
    return FieldError(field, st.message());
  }
  return absl::OkStatus();
}

absl::Status ValidatePort(absl::string_view field, uint32_t port) {
  if (port < 1 || port > kMaxPort) {
    return FieldError(field, absl::StrCat(port, " is not a port number 1-65535"));
  }
  return absl::OkStatus();
}

absl::StatusOr<DesiredPod> ValidatePod(absl::string_view field, const v1::Pod& pod,
                                       const ValidationOptions& options) {
  auto sub = [&](absl::string_view name) { return absl::StrCat(field, ".", name); };
  if (absl::Status st = ValidateUid(sub("uid"), pod.uid()); !st.ok()) {
    return st;
  }
  if (absl::Status st = ValidateDns1123Label(sub("namespace"), pod.namespace_()); !st.ok()) {
    return st;
  }
  if (absl::Status st = ValidateDns1123Subdomain(sub("name"), pod.name()); !st.ok()) {
    return st;
  }
  absl::StatusOr<std::vector<IpAddress>> ips =
      ValidatePodIps(sub("ips"), pod.ips(), options.probe_addresses);
  if (!ips.ok()) {
    return ips.status();
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
                        absl::StrCat("\"", absl::CEscape(proto), "\" is not TCP, UDP or SCTP"));
    }
    if (!cp.name().empty() && !IsValidPortName(cp.name())) {
      return FieldError(
          item + ".name",
          absl::StrCat("\"", absl::CEscape(cp.name()),
                       "\" is not an IANA service name (at most 15 characters of "
                       "[a-z0-9-] with a letter, no leading, trailing or double '-')"));
    }
  }
  for (int i = 0; i < pod.probe_ports_size(); ++i) {
    absl::Status st = ValidatePort(sub(absl::StrCat("probe_ports[", i, "]")), pod.probe_ports(i));
    if (!st.ok()) {
      return st;
    }
  }
  // Last: the only check that touches the file system.
  if (absl::Status st = ValidateNetnsPath(sub("netns_path"), pod.netns_path(), options); !st.ok()) {
    return st;
  }
  return DesiredPod{pod, *std::move(ips)};
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
    for (const IpAddress& ip : pods[i].ips) {
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
