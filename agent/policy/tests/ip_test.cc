#include "agent/policy/ip.h"

#include <gtest/gtest.h>

namespace probesnat::policy {
namespace {

TEST(Ip, ParsesBothFamilies) {
  EXPECT_TRUE(Ip::Parse("10.0.0.1")->is_v4());
  EXPECT_FALSE(Ip::Parse("fd00::1")->is_v4());
  EXPECT_EQ(Ip::Parse("fd00:0::1")->ToString(), "fd00::1");
  EXPECT_FALSE(Ip::Parse("10.0.0.256").ok());
  EXPECT_FALSE(Ip::Parse("prod/web").ok());
  EXPECT_FALSE(Ip::Parse("").ok());
}

TEST(Cidr, ParsesAndClearsHostBits) {
  EXPECT_EQ(Cidr::Parse("10.1.2.3/8")->ToString(), "10.0.0.0/8");
  EXPECT_EQ(Cidr::Parse("fd00::1/64")->ToString(), "fd00::/64");
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/").ok());
  EXPECT_FALSE(Cidr::Parse("fd00::/129").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/8x").ok());
}

TEST(Cidr, ContainsAddressesAndPrefixes) {
  Cidr c = *Cidr::Parse("10.0.0.0/12");
  EXPECT_TRUE(c.Contains(*Ip::Parse("10.15.255.255")));
  EXPECT_FALSE(c.Contains(*Ip::Parse("10.16.0.0")));
  EXPECT_FALSE(c.Contains(*Ip::Parse("::ffff:10.0.0.1")));  // other family
  EXPECT_TRUE(c.Contains(*Cidr::Parse("10.1.0.0/16")));
  EXPECT_FALSE(c.Contains(*Cidr::Parse("10.0.0.0/8")));
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains(*Ip::Parse("8.8.8.8")));
  EXPECT_TRUE(Cidr::Host(*Ip::Parse("169.254.7.127")).Contains(*Ip::Parse("169.254.7.127")));
  EXPECT_TRUE(
      Cidr::Parse("fd16::/16")->Contains(*Ip::Parse("fd16:9254:7127:1337:ffff:ffff:ffff:ffff")));
}

}  // namespace
}  // namespace probesnat::policy
