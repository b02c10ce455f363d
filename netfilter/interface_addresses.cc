#include "netfilter/interface_addresses.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace probesnat::netfilter {

absl::StatusOr<std::vector<InterfaceAddress>> ListOwnAddresses() {
  ifaddrs* raw = nullptr;
  if (::getifaddrs(&raw) != 0) {
    return absl::InternalError(
        absl::StrCat("listing the node's addresses (getifaddrs): ", std::strerror(errno)));
  }
  std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> list(raw, &::freeifaddrs);
  std::vector<InterfaceAddress> out;
  for (const ifaddrs* ifa = list.get(); ifa != nullptr; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == nullptr) {
      continue;
    }
    std::string name = ifa->ifa_name != nullptr ? ifa->ifa_name : "";
    if (ifa->ifa_addr->sa_family == AF_INET) {
      std::array<uint8_t, 4> bytes;
      std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in*>(ifa->ifa_addr)->sin_addr, 4);
      out.push_back({std::move(name), IpAddress::V4(bytes)});
    } else if (ifa->ifa_addr->sa_family == AF_INET6) {
      std::array<uint8_t, 16> bytes;
      std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(ifa->ifa_addr)->sin6_addr,
                  16);
      out.push_back({std::move(name), IpAddress::V6(bytes)});
    }
  }
  return out;
}

}  // namespace probesnat::netfilter
