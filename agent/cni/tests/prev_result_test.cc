#include "agent/cni/prev_result.h"

#include "agent/cni/cni_error.h"
#include "gtest/gtest.h"

namespace probesnat::cni {
namespace {

using json = nlohmann::ordered_json;

// What the bridge plugin with host-local IPAM returns (1.0.0), dual stack.
constexpr char kBridgeResult[] = R"({
  "cniVersion": "1.0.0",
  "interfaces": [
    {"name": "cni0", "mac": "aa:bb:cc:00:00:01"},
    {"name": "veth1234", "mac": "aa:bb:cc:00:00:02"},
    {"name": "eth0", "mac": "aa:bb:cc:00:00:03", "sandbox": "/var/run/netns/cni-1"}
  ],
  "ips": [
    {"interface": 2, "address": "10.22.0.5/16", "gateway": "10.22.0.1"},
    {"interface": 2, "address": "fd00:22::5/64", "gateway": "fd00:22::1"}
  ],
  "routes": [{"dst": "0.0.0.0/0"}],
  "dns": {}
})";

TEST(PrevResult, BridgeResultGivesBothFamilies) {
  auto addresses = PodAddressesFromPrevResult(json::parse(kBridgeResult), "eth0");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  ASSERT_TRUE(addresses->v4.has_value());
  ASSERT_TRUE(addresses->v6.has_value());
  EXPECT_EQ(addresses->v4->ToString(), "10.22.0.5");
  EXPECT_EQ(addresses->v6->ToString(), "fd00:22::5");
}

TEST(PrevResult, Version040EntriesWithoutInterface) {
  auto addresses = PodAddressesFromPrevResult(
      json::parse(R"({"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.0.7/24"}]})"),
      "eth0");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(addresses->v4->ToString(), "10.1.0.7");
  EXPECT_FALSE(addresses->v6.has_value());
}

TEST(PrevResult, HostSideInterfacesDoNotCount) {
  // An address on the bridge (no sandbox) is the node's, not the pod's.
  auto addresses = PodAddressesFromPrevResult(json::parse(R"({
    "interfaces": [{"name": "cni0"}, {"name": "eth0", "sandbox": "/run/netns/p"}],
    "ips": [{"interface": 0, "address": "10.22.0.1/16"}, {"interface": 1, "address": "10.22.0.9/16"}]
  })"), "eth0");
  ASSERT_TRUE(addresses.ok());
  EXPECT_EQ(addresses->v4->ToString(), "10.22.0.9");
}

TEST(PrevResult, OtherSandboxInterfaceWhenIfnameIsAbsent) {
  auto addresses = PodAddressesFromPrevResult(json::parse(R"({
    "interfaces": [{"name": "net0", "sandbox": "/run/netns/p"}],
    "ips": [{"interface": 0, "address": "10.22.0.9/16"}]
  })"), "eth0");
  ASSERT_TRUE(addresses.ok());
  EXPECT_EQ(addresses->v4->ToString(), "10.22.0.9");
}

TEST(PrevResult, FirstAddressOfEachFamilyWins) {
  auto addresses = PodAddressesFromPrevResult(
      json::parse(R"({"ips":[{"address":"10.0.0.2/24"},{"address":"10.0.0.3/24"}]})"), "eth0");
  ASSERT_TRUE(addresses.ok());
  EXPECT_EQ(addresses->v4->ToString(), "10.0.0.2");
}

TEST(PrevResult, MalformedResultsAreCode7) {
  for (const char* bad : {
           R"({})",
           R"({"ips": []})",
           R"({"ips": {}})",
           R"({"ips": [{"address": 5}]})",
           R"({"ips": [{"address": "10.0.0.2"}]})",
           R"({"ips": [{"address": "10.0.0.2/33"}]})",
           R"({"ips": [{"address": "10.0.0.300/24"}]})",
           R"({"ips": [{"address": "10.0.0.2/24", "interface": 3}], "interfaces": []})",
           R"({"ips": [{"address": "10.0.0.2/24", "interface": -1}], "interfaces": [{}]})",
           R"({"ips": [{"address": "10.0.0.2/24", "interface": 0}], "interfaces": [{"name": "cni0"}]})",
           R"({"ips": [{"address": "10.0.0.2/24"}], "interfaces": 1})",
       }) {
    auto addresses = PodAddressesFromPrevResult(json::parse(bad), "eth0");
    ASSERT_FALSE(addresses.ok()) << bad;
    EXPECT_EQ(ToCniError(addresses.status()).code, CniCode::kInvalidConfig) << bad;
  }
}

}  // namespace
}  // namespace probesnat::cni
