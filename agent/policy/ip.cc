#include "agent/policy/ip.h"

#include <arpa/inet.h>

#include <charconv>

#include "absl/strings/str_cat.h"

namespace probesnat::policy {

absl::StatusOr<Ip> Ip::Parse(absl::string_view text) {
  std::string s(text);
  Ip ip;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), ip.bytes_.data()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IP address"));
    }
    ip.family_ = IpFamily::kV4;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes_.data()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IP address"));
  }
  ip.family_ = IpFamily::kV6;
  return ip;
}

std::string Ip::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a CIDR (no /prefix)"));
  }
  absl::StatusOr<Ip> ip = Ip::Parse(text.substr(0, slash));
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
  Cidr c;
  c.base_ = *ip;
  c.prefix_ = prefix;
  for (int i = prefix; i < ip->bits(); ++i) {
    c.base_.bytes_[i / 8] &= static_cast<uint8_t>(~(1u << (7 - i % 8)));
  }
  return c;
}

Cidr Cidr::Host(const Ip& ip) {
  Cidr c;
  c.base_ = ip;
  c.prefix_ = ip.bits();
  return c;
}

bool Cidr::Contains(const Ip& ip) const {
  if (ip.family() != family()) {
    return false;
  }
  int full = prefix_ / 8;
  for (int i = 0; i < full; ++i) {
    if (ip.bytes_[i] != base_.bytes_[i]) {
      return false;
    }
  }
  int rest = prefix_ % 8;
  if (rest == 0) {
    return true;
  }
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (ip.bytes_[full] & mask) == base_.bytes_[full];
}

bool Cidr::Contains(const Cidr& other) const {
  return other.family() == family() && other.prefix_ >= prefix_ && Contains(other.base_);
}

bool Cidr::Overlaps(const Cidr& other) const { return Contains(other) || other.Contains(*this); }

std::string Cidr::ToString() const { return absl::StrCat(base_.ToString(), "/", prefix_); }

}  // namespace probesnat::policy
