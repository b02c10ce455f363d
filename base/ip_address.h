#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace probesnat {

enum class IpFamily : uint8_t { kV4, kV6 };

// An IPv4 or IPv6 address in network byte order.
class IpAddress {
 public:
  // Dotted-quad IPv4 or RFC 4291 IPv6 text; no prefix, zone or port. INVALID_ARGUMENT otherwise.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress V4(const std::array<uint8_t, 4>& bytes);
  static IpAddress V6(const std::array<uint8_t, 16>& bytes);
  // 127.0.0.1 or ::1.
  static IpAddress Loopback(IpFamily family);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kV4; }
  bool is_v6() const { return family_ == IpFamily::kV6; }
  // 4 or 16 bytes, network order.
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return is_v4() ? 4 : 16; }
  int bits() const { return is_v4() ? 32 : 128; }
  // Bit `i` counted from the most significant bit.
  bool Bit(int i) const { return (bytes_[i / 8] >> (7 - i % 8)) & 1; }
  std::string ToString() const;

  // 0.0.0.0/8 (RFC 1122 "this network": never a host's address) or ::.
  bool is_unspecified() const;
  // 127.0.0.0/8 or ::1.
  bool is_loopback() const;
  // 224.0.0.0/4 or ff00::/8.
  bool is_multicast() const;
  // 169.254.0.0/16 or fe80::/10.
  bool is_link_local() const;
  // 255.255.255.255.
  bool is_broadcast() const;
  // 240.0.0.0/4 (the former class E, broadcast included).
  bool is_reserved_v4() const;
  // fc00::/7.
  bool is_unique_local() const;
  // ::ffff:0:0/96.
  bool is_v4_mapped() const;
  // ::/96, the deprecated IPv4-compatible form (:: and ::1 included).
  bool is_v4_compatible() const;
  // 64:ff9b::/96 (RFC 6052) or the local-use 64:ff9b:1::/48 (RFC 8215).
  bool is_nat64() const;
  // 2002::/16.
  bool is_6to4() const;
  // The IPv4 address an IPv6 address carries when it is of a form that embeds one: in its last 32
  // bits for IPv4-compatible, IPv4-mapped and NAT64 addresses, in bits 16-47 for 6to4.
  std::optional<IpAddress> EmbeddedV4() const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  IpFamily family_ = IpFamily::kV4;
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace probesnat
