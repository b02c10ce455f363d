#include "base/cidr.h"

#include <array>
#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace probesnat {

absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a CIDR (no /prefix)"));
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text.substr(0, slash));
  if (!ip.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a CIDR"));
  }
  absl::string_view len = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (len.empty() || ec != std::errc() || end != len.data() + len.size() || prefix < 0 ||
      prefix > ip->bits()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" has an invalid prefix length"));
  }
  std::array<uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), ip->data(), ip->size());
  for (int i = prefix; i < ip->bits(); ++i) {
    bytes[i / 8] &= static_cast<uint8_t>(~(1u << (7 - i % 8)));
  }
  Cidr c;
  c.base_ = ip->is_v4() ? IpAddress::V4({bytes[0], bytes[1], bytes[2], bytes[3]})
                        : IpAddress::V6(bytes);
  c.prefix_ = prefix;
  return c;
}

Cidr Cidr::Host(const IpAddress& ip) {
  Cidr c;
  c.base_ = ip;
  c.prefix_ = ip.bits();
  return c;
}

bool Cidr::Contains(const IpAddress& ip) const {
  if (ip.family() != family()) {
    return false;
  }
  const uint8_t* a = ip.data();
  const uint8_t* b = base_.data();
  int full = prefix_ / 8;
  if (std::memcmp(a, b, full) != 0) {
    return false;
  }
  int rest = prefix_ % 8;
  if (rest == 0) {
    return true;
  }
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == b[full];
}

bool Cidr::Contains(const Cidr& other) const {
  return other.family() == family() && other.prefix_ >= prefix_ && Contains(other.base_);
}

bool Cidr::Overlaps(const Cidr& other) const { return Contains(other) || other.Contains(*this); }

std::string Cidr::ToString() const { return absl::StrCat(base_.ToString(), "/", prefix_); }

}  // namespace probesnat
