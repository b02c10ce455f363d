#include "agent/cni/prev_result.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/cni/cni_error.h"

namespace probesnat::cni {
namespace {

using json = nlohmann::ordered_json;

absl::Status Bad(absl::string_view why) {
  return CniStatus(CniCode::kInvalidConfig, absl::StrCat("invalid prevResult: ", why));
}

// "10.22.0.5/16" -> 10.22.0.5.
absl::StatusOr<IpAddress> AddressOfCidr(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) {
    return Bad(absl::StrCat("address \"", text.substr(0, 64), "\" has no prefix length"));
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(absl::string_view(text).substr(0, slash));
  int prefix = -1;
  if (!ip.ok() || !absl::SimpleAtoi(absl::string_view(text).substr(slash + 1), &prefix) ||
      prefix < 0 || prefix > ip->bits()) {
    return Bad(absl::StrCat("address \"", text.substr(0, 64), "\" is not IP/prefix"));
  }
  return *ip;
}

enum class Match { kNone, kOtherSandbox, kIfname };

}  // namespace

absl::StatusOr<PodAddresses> PodAddressesFromPrevResult(const json& prev_result,
                                                        const std::string& ifname) {
  std::vector<Match> interfaces;
  if (auto it = prev_result.find("interfaces"); it != prev_result.end()) {
    if (!it->is_array()) {
      return Bad("\"interfaces\" is not a list");
    }
    for (const json& iface : *it) {
      if (!iface.is_object()) {
        return Bad("an \"interfaces\" entry is not an object");
      }
      const std::string name = iface.value("name", "");
      const json sandbox = iface.value("sandbox", json());
      const bool in_sandbox = sandbox.is_string() && !sandbox.get<std::string>().empty();
      interfaces.push_back(!in_sandbox        ? Match::kNone
                           : name == ifname ? Match::kIfname
                                            : Match::kOtherSandbox);
    }
  }
  auto ips = prev_result.find("ips");
  if (ips == prev_result.end() || !ips->is_array() || ips->empty()) {
    return Bad("no \"ips\": the previous plugin assigned the pod no address");
  }
  struct Candidate {
    IpAddress ip;
    Match match;
  };
  std::vector<Candidate> candidates;
  for (const json& entry : *ips) {
    if (!entry.is_object() || !entry.contains("address") || !entry["address"].is_string()) {
      return Bad("an \"ips\" entry has no \"address\" string");
    }
    absl::StatusOr<IpAddress> ip = AddressOfCidr(entry["address"].get<std::string>());
    if (!ip.ok()) {
      return ip.status();
    }
    Match match = Match::kIfname;  // no interface named: the address is the pod's
    if (auto index = entry.find("interface"); index != entry.end()) {
      if (!index->is_number_integer() || index->get<int64_t>() < 0 ||
          index->get<int64_t>() >= static_cast<int64_t>(interfaces.size())) {
        return Bad(absl::StrCat("\"interface\" ", index->dump(), " is not an index of \"interfaces\""));
      }
      match = interfaces[index->get<size_t>()];
    }
    candidates.push_back({*ip, match});
  }
  bool any_ifname = false;
  for (const Candidate& c : candidates) {
    any_ifname = any_ifname || c.match == Match::kIfname;
  }
  const Match wanted = any_ifname ? Match::kIfname : Match::kOtherSandbox;
  PodAddresses out;
  for (const Candidate& c : candidates) {
    if (c.match != wanted) {
      continue;
    }
    std::optional<IpAddress>& slot = c.ip.is_v4() ? out.v4 : out.v6;
    if (!slot.has_value()) {
      slot = c.ip;
    }
  }
  if (!out.v4.has_value() && !out.v6.has_value()) {
    return Bad(absl::StrCat("no address on the pod's interface \"", ifname, "\""));
  }
  return out;
}

}  // namespace probesnat::cni
