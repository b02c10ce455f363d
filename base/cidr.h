#pragma once

#include <compare>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/ip_address.h"

namespace probesnat {

// A prefix such as 10.0.0.0/8 or fd00::/64. Host bits are cleared on parse.
class Cidr {
 public:
  static absl::StatusOr<Cidr> Parse(absl::string_view text);
  static Cidr Host(const IpAddress& ip);  // /32 or /128

  IpFamily family() const { return base_.family(); }
  int prefix() const { return prefix_; }
  const IpAddress& base() const { return base_; }
  bool Contains(const IpAddress& ip) const;
  bool Contains(const Cidr& other) const;  // `other` lies entirely inside this prefix
  bool Overlaps(const Cidr& other) const;
  std::string ToString() const;

  auto operator<=>(const Cidr&) const = default;

 private:
  IpAddress base_;
  int prefix_ = 0;
};

}  // namespace probesnat
