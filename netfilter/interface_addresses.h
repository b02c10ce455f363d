#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/ip_address.h"

namespace probesnat::netfilter {

// An address configured on one of the node's interfaces.
struct InterfaceAddress {
  std::string interface;
  IpAddress address;
};

// Every IPv4 and IPv6 address of the calling thread's network namespace (getifaddrs); for the
// agent, the node's namespace.
absl::StatusOr<std::vector<InterfaceAddress>> ListOwnAddresses();

}  // namespace probesnat::netfilter
