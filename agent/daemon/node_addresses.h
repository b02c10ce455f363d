#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netfilter/ip_address.h"

namespace probesnat::daemon {

// An address configured on one of the node's interfaces.
struct InterfaceAddress {
  std::string interface;
  netfilter::IpAddress address;
};

using NodeAddressLister = std::function<absl::StatusOr<std::vector<InterfaceAddress>>()>;

// Every IPv4 and IPv6 address of the calling thread's network namespace (getifaddrs), which for the
// agent is the node's namespace.
absl::StatusOr<std::vector<InterfaceAddress>> ListOwnAddresses();

}  // namespace probesnat::daemon
