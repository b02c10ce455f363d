#include "base/cidr.h"

#include <gtest/gtest.h>

namespace probesnat {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TEST(Cidr, ParsesAndClearsHostBits) {
  EXPECT_EQ(Cidr::Parse("10.1.2.3/8")->ToString(), "10.0.0.0/8");
  EXPECT_EQ(Cidr::Parse("10.1.2.3/12")->ToString(), "10.0.0.0/12");
  EXPECT_EQ(Cidr::Parse("fd00::1/64")->ToString(), "fd00::/64");
  EXPECT_EQ(Cidr::Parse("10.1.2.3/32")->base(), Ip("10.1.2.3"));
  EXPECT_EQ(Cidr::Parse("fd00::1/64")->prefix(), 64);
  EXPECT_EQ(Cidr::Parse("fd00::1/64")->family(), IpFamily::kV6);
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/").ok());
  EXPECT_FALSE(Cidr::Parse("fd00::/129").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/8x").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/-1").ok());
  EXPECT_FALSE(Cidr::Parse("web/8").ok());
}

TEST(Cidr, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(Cidr::Parse("10.0.0.0/33").status().message(),
            "\"10.0.0.0/33\" has an invalid prefix length");
  EXPECT_EQ(Cidr::Parse("10.0.0.0").status().message(), "\"10.0.0.0\" is not a CIDR (no /prefix)");
}

TEST(Cidr, ContainsAddressesAndPrefixes) {
  Cidr c = *Cidr::Parse("10.0.0.0/12");
  EXPECT_TRUE(c.Contains(Ip("10.15.255.255")));
  EXPECT_FALSE(c.Contains(Ip("10.16.0.0")));
  EXPECT_FALSE(c.Contains(Ip("::ffff:10.0.0.1")));  // other family
  EXPECT_TRUE(c.Contains(*Cidr::Parse("10.1.0.0/16")));
  EXPECT_FALSE(c.Contains(*Cidr::Parse("10.0.0.0/8")));
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains(Ip("8.8.8.8")));
  EXPECT_FALSE(Cidr::Parse("0.0.0.0/0")->Contains(Ip("::")));
  EXPECT_TRUE(Cidr::Host(Ip("169.254.7.127")).Contains(Ip("169.254.7.127")));
  EXPECT_FALSE(Cidr::Host(Ip("169.254.7.127")).Contains(Ip("169.254.7.126")));
  EXPECT_EQ(Cidr::Host(Ip("fd00::1")).ToString(), "fd00::1/128");
  EXPECT_TRUE(Cidr::Parse("fd16::/16")->Contains(Ip("fd16:9254:7127:1337:ffff:ffff:ffff:ffff")));
}

TEST(Cidr, Overlaps) {
  Cidr a = *Cidr::Parse("10.0.0.0/8");
  Cidr b = *Cidr::Parse("10.1.0.0/16");
  Cidr c = *Cidr::Parse("11.0.0.0/8");
  EXPECT_TRUE(a.Overlaps(b));
  EXPECT_TRUE(b.Overlaps(a));
  EXPECT_FALSE(a.Overlaps(c));
  EXPECT_FALSE(a.Overlaps(*Cidr::Parse("::/0")));
}

TEST(Cidr, OrdersByBaseThenPrefix) {
  EXPECT_LT(*Cidr::Parse("10.0.0.0/8"), *Cidr::Parse("10.0.0.0/16"));
  EXPECT_LT(*Cidr::Parse("10.0.0.0/16"), *Cidr::Parse("11.0.0.0/8"));
  EXPECT_EQ(*Cidr::Parse("10.1.2.3/8"), *Cidr::Parse("10.0.0.0/8"));
}

}  // namespace
}  // namespace probesnat
