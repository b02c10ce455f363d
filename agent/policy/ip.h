#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace probesnat::policy {

enum class IpFamily : uint8_t { kV4, kV6 };

// An IPv4 or IPv6 address (network byte order). Independent of the kernel code on purpose.
class Ip {
 public:
  static absl::StatusOr<Ip> Parse(absl::string_view text);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kV4; }
  int bits() const { return is_v4() ? 32 : 128; }
  // Bit `i` counted from the most significant bit.
  bool Bit(int i) const { return (bytes_[i / 8] >> (7 - i % 8)) & 1; }
  std::string ToString() const;

  auto operator<=>(const Ip&) const = default;

 private:
  friend class Cidr;
  IpFamily family_ = IpFamily::kV4;
  std::array<uint8_t, 16> bytes_{};
};

// A prefix such as 10.0.0.0/8 or fd00::/64. Host bits are cleared on parse.
class Cidr {
 public:
  static absl::StatusOr<Cidr> Parse(absl::string_view text);
  static Cidr Host(const Ip& ip);  // /32 or /128

  IpFamily family() const { return base_.family(); }
  int prefix() const { return prefix_; }
  const Ip& base() const { return base_; }
  bool Contains(const Ip& ip) const;
  bool Contains(const Cidr& other) const;  // `other` lies entirely inside this prefix
  bool Overlaps(const Cidr& other) const;
  std::string ToString() const;

  auto operator<=>(const Cidr&) const = default;

 private:
  Ip base_;
  int prefix_ = 0;
};

}  // namespace probesnat::policy
