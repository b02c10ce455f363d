#include "base/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace probesnat {
namespace {

bool AllZero(const uint8_t* begin, const uint8_t* end) {
  return std::all_of(begin, end, [](uint8_t x) { return x == 0; });
}

}  // namespace

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  // inet_pton reads a C string: text with a NUL in it must not pass as its prefix.
  std::string s(text);
  IpAddress a;
  if (s.find('\0') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), a.bytes_.data()) == 1) {
      a.family_ = IpFamily::kV4;
      return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes_.data()) == 1) {
      a.family_ = IpFamily::kV6;
      return a;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IP address"));
}

IpAddress IpAddress::V4(const std::array<uint8_t, 4>& bytes) {
  IpAddress a;
  a.family_ = IpFamily::kV4;
  std::memcpy(a.bytes_.data(), bytes.data(), 4);
  return a;
}

IpAddress IpAddress::V6(const std::array<uint8_t, 16>& bytes) {
  IpAddress a;
  a.family_ = IpFamily::kV6;
  a.bytes_ = bytes;
  return a;
}

IpAddress IpAddress::Loopback(IpFamily family) {
  if (family == IpFamily::kV4) {
    return V4({127, 0, 0, 1});
  }
  std::array<uint8_t, 16> one{};
  one[15] = 1;
  return V6(one);
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

bool IpAddress::is_unspecified() const {
  const uint8_t* b = bytes_.data();
  return is_v4() ? b[0] == 0 : AllZero(b, b + 16);
}

bool IpAddress::is_loopback() const {
  const uint8_t* b = bytes_.data();
  return is_v4() ? b[0] == 127 : AllZero(b, b + 15) && b[15] == 1;
}

bool IpAddress::is_multicast() const {
  const uint8_t* b = bytes_.data();
  return is_v4() ? (b[0] & 0xf0) == 0xe0 : b[0] == 0xff;
}

bool IpAddress::is_link_local() const {
  const uint8_t* b = bytes_.data();
  return is_v4() ? b[0] == 169 && b[1] == 254 : b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

bool IpAddress::is_broadcast() const {
  const uint8_t* b = bytes_.data();
  return is_v4() && b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255;
}

bool IpAddress::is_reserved_v4() const { return is_v4() && bytes_[0] >= 240; }

bool IpAddress::is_unique_local() const { return is_v6() && (bytes_[0] & 0xfe) == 0xfc; }

bool IpAddress::is_v4_mapped() const {
  const uint8_t* b = bytes_.data();
  return is_v6() && AllZero(b, b + 10) && b[10] == 0xff && b[11] == 0xff;
}

bool IpAddress::is_v4_compatible() const {
  const uint8_t* b = bytes_.data();
  return is_v6() && AllZero(b, b + 12);
}

bool IpAddress::is_nat64() const {
  const uint8_t* b = bytes_.data();
  return is_v6() && b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
         (AllZero(b + 4, b + 12) || (b[4] == 0x00 && b[5] == 0x01));
}

bool IpAddress::is_6to4() const { return is_v6() && bytes_[0] == 0x20 && bytes_[1] == 0x02; }

std::optional<IpAddress> IpAddress::EmbeddedV4() const {
  const uint8_t* b = bytes_.data();
  if (is_v4_compatible() || is_v4_mapped() || is_nat64()) {
    return V4({b[12], b[13], b[14], b[15]});
  }
  if (is_6to4()) {
    return V4({b[2], b[3], b[4], b[5]});
  }
  return std::nullopt;
}

}  // namespace probesnat
