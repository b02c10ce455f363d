#include "base/ip_address.h"

#include <gtest/gtest.h>

#include <string>

namespace probesnat {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TEST(IpAddress, ParsesBothFamilies) {
  EXPECT_TRUE(IpAddress::Parse("10.0.0.1")->is_v4());
  EXPECT_FALSE(IpAddress::Parse("fd00::1")->is_v4());
  EXPECT_TRUE(IpAddress::Parse("fd00::1")->is_v6());
  EXPECT_EQ(IpAddress::Parse("fd00:0::1")->ToString(), "fd00::1");
  EXPECT_EQ(IpAddress::Parse("FD00::A")->ToString(), "fd00::a");
  EXPECT_EQ(IpAddress::Parse("::ffff:10.0.0.1")->ToString(), "::ffff:10.0.0.1");
  EXPECT_FALSE(IpAddress::Parse("10.0.0.256").ok());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.1/32").ok());
  EXPECT_FALSE(IpAddress::Parse("prod/web").ok());
  EXPECT_FALSE(IpAddress::Parse("").ok());
  EXPECT_FALSE(IpAddress::Parse("fe80::1%eth0").ok());
}

TEST(IpAddress, RefusesTextWithANul) {
  using std::string_literals::operator""s;
  absl::StatusOr<IpAddress> ip = IpAddress::Parse("1.2.3.4\0junk"s);
  ASSERT_FALSE(ip.ok());
  EXPECT_EQ(ip.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IpAddress::Parse("::1\0"s).ok());
}

TEST(IpAddress, ErrorQuotesTheText) {
  EXPECT_EQ(IpAddress::Parse("pod.local").status().message(),
            "\"pod.local\" is not an IP address");
}

TEST(IpAddress, BytesAreInNetworkOrder) {
  IpAddress v4 = IpAddress::V4({10, 1, 2, 3});
  EXPECT_EQ(v4, Ip("10.1.2.3"));
  EXPECT_EQ(v4.family(), IpFamily::kV4);
  ASSERT_EQ(v4.size(), 4u);
  EXPECT_EQ(v4.data()[0], 10);
  EXPECT_EQ(v4.data()[3], 3);
  EXPECT_EQ(v4.bits(), 32);

  IpAddress v6 = IpAddress::V6({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34});
  EXPECT_EQ(v6, Ip("fd00::1234"));
  EXPECT_EQ(v6.family(), IpFamily::kV6);
  ASSERT_EQ(v6.size(), 16u);
  EXPECT_EQ(v6.data()[15], 0x34);
  EXPECT_EQ(v6.bits(), 128);
}

TEST(IpAddress, BitCountsFromTheMostSignificant) {
  IpAddress a = Ip("128.0.0.1");
  EXPECT_TRUE(a.Bit(0));
  EXPECT_FALSE(a.Bit(1));
  EXPECT_FALSE(a.Bit(30));
  EXPECT_TRUE(a.Bit(31));
  IpAddress b = Ip("::1");
  EXPECT_FALSE(b.Bit(0));
  EXPECT_TRUE(b.Bit(127));
}

TEST(IpAddress, OrdersV4BeforeV6AndByBytes) {
  EXPECT_LT(Ip("10.0.0.1"), Ip("10.0.0.2"));
  EXPECT_LT(Ip("255.255.255.255"), Ip("::"));
  EXPECT_LT(Ip("fd00::1"), Ip("fd00::2"));
  EXPECT_NE(Ip("0.0.0.1"), Ip("::1"));
}

TEST(IpAddress, Loopback) {
  EXPECT_EQ(IpAddress::Loopback(IpFamily::kV4), Ip("127.0.0.1"));
  EXPECT_EQ(IpAddress::Loopback(IpFamily::kV6), Ip("::1"));
  EXPECT_TRUE(Ip("127.0.0.1").is_loopback());
  EXPECT_TRUE(Ip("127.255.0.9").is_loopback());
  EXPECT_TRUE(Ip("::1").is_loopback());
  EXPECT_FALSE(Ip("128.0.0.1").is_loopback());
  EXPECT_FALSE(Ip("::2").is_loopback());
  EXPECT_FALSE(Ip("::ffff:127.0.0.1").is_loopback());
}

TEST(IpAddress, Unspecified) {
  EXPECT_TRUE(Ip("0.0.0.0").is_unspecified());
  EXPECT_TRUE(Ip("0.1.2.3").is_unspecified());
  EXPECT_TRUE(Ip("::").is_unspecified());
  EXPECT_FALSE(Ip("1.0.0.0").is_unspecified());
  EXPECT_FALSE(Ip("::1").is_unspecified());
}

TEST(IpAddress, Multicast) {
  EXPECT_TRUE(Ip("224.0.0.1").is_multicast());
  EXPECT_TRUE(Ip("239.255.255.255").is_multicast());
  EXPECT_FALSE(Ip("223.255.255.255").is_multicast());
  EXPECT_FALSE(Ip("240.0.0.1").is_multicast());
  EXPECT_TRUE(Ip("ff02::1").is_multicast());
  EXPECT_FALSE(Ip("fe80::1").is_multicast());
}

TEST(IpAddress, LinkLocal) {
  EXPECT_TRUE(Ip("169.254.7.127").is_link_local());
  EXPECT_FALSE(Ip("169.253.0.1").is_link_local());
  EXPECT_TRUE(Ip("fe80::1").is_link_local());
  EXPECT_TRUE(Ip("febf::1").is_link_local());
  EXPECT_FALSE(Ip("fec0::1").is_link_local());
}

TEST(IpAddress, BroadcastAndReserved) {
  EXPECT_TRUE(Ip("255.255.255.255").is_broadcast());
  EXPECT_FALSE(Ip("255.255.255.254").is_broadcast());
  EXPECT_TRUE(Ip("255.255.255.255").is_reserved_v4());
  EXPECT_TRUE(Ip("240.0.0.1").is_reserved_v4());
  EXPECT_FALSE(Ip("239.0.0.1").is_reserved_v4());
  EXPECT_FALSE(Ip("ffff::").is_reserved_v4());
}

TEST(IpAddress, UniqueLocal) {
  EXPECT_TRUE(Ip("fc00::1").is_unique_local());
  EXPECT_TRUE(Ip("fd16:9254:7127:1337:ffff:ffff:ffff:ffff").is_unique_local());
  EXPECT_FALSE(Ip("fe80::1").is_unique_local());
  EXPECT_FALSE(Ip("252.0.0.1").is_unique_local());
}

TEST(IpAddress, FormsThatEmbedAnIpv4Address) {
  EXPECT_TRUE(Ip("::ffff:10.0.0.1").is_v4_mapped());
  EXPECT_FALSE(Ip("::10.0.0.1").is_v4_mapped());
  EXPECT_TRUE(Ip("::10.0.0.1").is_v4_compatible());
  EXPECT_FALSE(Ip("::1:0:0:1").is_v4_compatible());
  EXPECT_TRUE(Ip("64:ff9b::10.0.0.1").is_nat64());
  EXPECT_TRUE(Ip("64:ff9b:1::10.0.0.1").is_nat64());
  EXPECT_FALSE(Ip("64:ff9b:2::10.0.0.1").is_nat64());
  EXPECT_TRUE(Ip("2002:a00:1::").is_6to4());
  EXPECT_FALSE(Ip("10.0.0.1").is_v4_mapped());

  const IpAddress v4 = Ip("10.0.0.1");
  EXPECT_EQ(Ip("::ffff:10.0.0.1").EmbeddedV4(), v4);
  EXPECT_EQ(Ip("::10.0.0.1").EmbeddedV4(), v4);
  EXPECT_EQ(Ip("64:ff9b::a00:1").EmbeddedV4(), v4);
  EXPECT_EQ(Ip("64:ff9b:1::a00:1").EmbeddedV4(), v4);
  EXPECT_EQ(Ip("2002:a00:1::").EmbeddedV4(), v4);
  EXPECT_EQ(Ip("fd00::a00:1").EmbeddedV4(), std::nullopt);
  EXPECT_EQ(v4.EmbeddedV4(), std::nullopt);
}

}  // namespace
}  // namespace probesnat
