#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "base/ip_address.h"
#include "nlohmann/json.hpp"

namespace probesnat::cni {

// The pod's addresses, at most one per family, as the previous plugin (the main plugin, e.g.
// bridge + host-local) reported them.
struct PodAddresses {
  std::optional<IpAddress> v4;
  std::optional<IpAddress> v6;
};

// Reads prevResult.ips. An entry counts when it names no interface, or names the sandbox
// interface `ifname` (an interfaces[] entry with that name and a non-empty "sandbox"); when no
// entry names `ifname` but some name another sandbox interface, those count (a plugin that
// renamed it). The first address of each family wins. Errors are CNI errors, code 7: malformed
// ips/interfaces, an address that is not "IP/prefix", an interface index out of range, no
// address at all.
absl::StatusOr<PodAddresses> PodAddressesFromPrevResult(const nlohmann::ordered_json& prev_result,
                                                        const std::string& ifname);

}  // namespace probesnat::cni
