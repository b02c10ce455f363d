#include "agent/daemon/pod_validation.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A path under /proc that is this process's own (real) network namespace.
std::string OwnNetns() { return absl::StrCat("/proc/", ::getpid(), "/ns/net"); }

v1::Pod GoodPod() {
  v1::Pod p;
  p.set_uid("0f9c2b7e-5c1a-4d0e-9a8b-1c2d3e4f5a6b");
  p.set_namespace_("shop");
  p.set_name("web-7d9f8c6b5-xk2lp");
  p.add_ips("10.244.1.7");
  p.add_ips("fd00:10:244:1::7");
  p.set_netns_path(OwnNetns());
  auto* port = p.add_container_ports();
  port->set_name("http");
  port->set_port(8080);
  p.add_probe_ports(8080);
  return p;
}

// Our own namespace stands in for a pod's: the host-namespace refusal is tested on its own.
ValidationOptions Options() {
  ValidationOptions o;
  o.allowed_netns_roots = {"/run/netns", "/proc"};
  o.open_netns = netfilter::OpenNetnsHandleBeneath;
  return o;
}

// Expects INVALID_ARGUMENT whose message starts with `field` and mentions `detail`.
void ExpectInvalid(const v1::Pod& pod, const std::string& field, const std::string& detail = "") {
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", pod, Options());
  ASSERT_FALSE(got.ok()) << "accepted a pod with a bad " << field;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(got.status().message()), StartsWith(field + ":"));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(detail));
}

TEST(ValidatePodTest, AcceptsAGoodPodAndSortsItsAddresses) {
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", GoodPod(), Options());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->spec.ips.size(), 2u);
  EXPECT_TRUE(got->spec.ips[0].is_v4());
  EXPECT_EQ(got->spec.ips[0].ToString(), "10.244.1.7");
  EXPECT_EQ(got->spec.ips[1].ToString(), "fd00:10:244:1::7");
  EXPECT_EQ(got->uid(), GoodPod().uid());
}

TEST(ValidatePodTest, AcceptsTaskNetnsPathsAndSingleFamilyPods) {
  v1::Pod p = GoodPod();
  p.clear_ips();
  p.add_ips("fd00::5");
  p.set_netns_path(absl::StrCat("/proc/", ::getpid(), "/task/", ::getpid(), "/ns/net"));
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", p, Options());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->spec.ips[0].is_v6());
}

struct UidCase {
  std::string uid;
  bool ok;
};
void PrintTo(const UidCase& c, std::ostream* os) {
  *os << "\"" << c.uid.substr(0, 20) << (c.uid.size() > 20 ? "...\"" : "\"")
      << (c.ok ? " ok" : " bad");
}

class UidTest : public ::testing::TestWithParam<UidCase> {};

TEST_P(UidTest, Validates) {
  v1::Pod p = GoodPod();
  p.set_uid(GetParam().uid);
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", p, Options());
  EXPECT_EQ(got.ok(), GetParam().ok) << GetParam().uid << ": " << got.status();
  if (!got.ok()) {
    EXPECT_THAT(std::string(got.status().message()), StartsWith("pod.uid:"));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, UidTest,
                         ::testing::Values(UidCase{"abc", true}, UidCase{"A-b_c.9", true},
                                           UidCase{std::string(128, 'a'), true}, UidCase{"", false},
                                           UidCase{std::string(129, 'a'), false},
                                           UidCase{"a b", false}, UidCase{"a/b", false},
                                           UidCase{"ü", false}, UidCase{"a:b", false}));

TEST(ValidatePodTest, NamespaceMustBeADns1123Label) {
  v1::Pod p = GoodPod();
  p.set_namespace_("");
  ExpectInvalid(p, "pod.namespace", "required");
  p.set_namespace_("Shop");
  ExpectInvalid(p, "pod.namespace", "DNS-1123 label");
  p.set_namespace_("shop.prod");
  ExpectInvalid(p, "pod.namespace", "DNS-1123 label");
  p.set_namespace_("-shop");
  ExpectInvalid(p, "pod.namespace");
  p.set_namespace_(std::string(64, 'a'));
  ExpectInvalid(p, "pod.namespace");
  p.set_namespace_(std::string(63, 'a'));
  EXPECT_TRUE(ValidatePod("pod", p, Options()).ok());
}

TEST(ValidatePodTest, NameMustBeADns1123Subdomain) {
  v1::Pod p = GoodPod();
  p.set_name("");
  ExpectInvalid(p, "pod.name", "required");
  p.set_name("web_1");
  ExpectInvalid(p, "pod.name", "DNS-1123 subdomain");
  p.set_name("web..1");
  ExpectInvalid(p, "pod.name");
  p.set_name("web-");
  ExpectInvalid(p, "pod.name");
  p.set_name("web.v1-0");
  EXPECT_TRUE(ValidatePod("pod", p, Options()).ok());
}

struct IpsCase {
  std::vector<std::string> ips;
  std::string field;  // expected field prefix; empty = valid
  std::string detail;
};
void PrintTo(const IpsCase& c, std::ostream* os) {
  *os << "[" << absl::StrJoin(c.ips, " ") << "] " << (c.field.empty() ? "ok" : c.detail);
}

class IpsTest : public ::testing::TestWithParam<IpsCase> {};

TEST_P(IpsTest, Validates) {
  v1::Pod p = GoodPod();
  p.clear_ips();
  for (const std::string& ip : GetParam().ips) {
    p.add_ips(ip);
  }
  if (GetParam().field.empty()) {
    absl::StatusOr<DesiredPod> got = ValidatePod("pod", p, Options());
    EXPECT_TRUE(got.ok()) << got.status();
  } else {
    ExpectInvalid(p, GetParam().field, GetParam().detail);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, IpsTest,
    ::testing::Values(IpsCase{{"10.1.2.3"}, "", ""},
                      IpsCase{{"2001:db8::1", "192.168.3.4"}, "", ""},
                      IpsCase{{}, "pod.ips", "at least one"},
                      IpsCase{{"10.0.0.1", "fd00::1", "10.0.0.2"}, "pod.ips", "at most 2"},
                      IpsCase{{"10.0.0.300"}, "pod.ips[0]", "not an IP address"},
                      IpsCase{{"10.0.0.1/32"}, "pod.ips[0]", "not an IP address"},
                      IpsCase{{"pod.local"}, "pod.ips[0]", "not an IP address"},
                      IpsCase{{"10.0.0.1", "10.0.0.1"}, "pod.ips[1]", "duplicates pod.ips[0]"},
                      IpsCase{{"10.0.0.1", "10.0.0.2"}, "pod.ips[1]", "at most one per family"},
                      IpsCase{{"fd00::1", "fd00::2"}, "pod.ips[1]", "at most one per family"},
                      IpsCase{{"0.0.0.0"}, "pod.ips[0]", "unspecified"},
                      IpsCase{{"::"}, "pod.ips[0]", "unspecified"},
                      IpsCase{{"127.0.0.1"}, "pod.ips[0]", "loopback"},
                      IpsCase{{"::1"}, "pod.ips[0]", "loopback"},
                      IpsCase{{"224.0.0.5"}, "pod.ips[0]", "multicast"},
                      IpsCase{{"ff02::1"}, "pod.ips[0]", "multicast"},
                      IpsCase{{"169.254.7.127"}, "pod.ips[0]", "link-local"},
                      IpsCase{{"fe80::1"}, "pod.ips[0]", "link-local"},
                      IpsCase{{"255.255.255.255"}, "pod.ips[0]", "broadcast"},
                      IpsCase{{"::ffff:10.0.0.1"}, "pod.ips[0]", "IPv4-mapped"}));

struct NetnsCase {
  std::string path;
  std::string detail;
};
void PrintTo(const NetnsCase& c, std::ostream* os) { *os << "\"" << c.path << "\" " << c.detail; }

class NetnsPathTest : public ::testing::TestWithParam<NetnsCase> {};

TEST_P(NetnsPathTest, IsRejected) {
  v1::Pod p = GoodPod();
  p.set_netns_path(GetParam().path);
  ExpectInvalid(p, "pod.netns_path", GetParam().detail);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, NetnsPathTest,
    ::testing::Values(NetnsCase{"", "required"}, NetnsCase{"run/netns/x", "absolute"},
                      NetnsCase{"/run/netns/../../etc/passwd", "normalized"},
                      NetnsCase{"/run/netns/./x", "normalized"},
                      NetnsCase{"/run/netns//x", "normalized"},
                      NetnsCase{"/run/netns/x/", "normalized"},
                      NetnsCase{"/etc/passwd", "not under an allowed"},
                      NetnsCase{"/run/netnsx/a", "not under an allowed"},
                      NetnsCase{"/run/netns", "not under an allowed"},
                      NetnsCase{"/proc/self/ns/net", "not under an allowed"},
                      NetnsCase{"/proc/1/ns/mnt", "not under an allowed"},
                      NetnsCase{"/proc/1/root/run/netns/x", "not under an allowed"},
                      NetnsCase{"/run/netns/probesnat-test-does-not-exist", "does not exist"}));

TEST(ValidateNetnsPathTest, SomethingThatIsNotANetworkNamespaceIsRejected) {
  // Our own mount namespace file: exists, under /proc, but not a network namespace... and not of
  // the accepted /proc form; so use a checker that reports the kernel's answer for a real file.
  ValidationOptions o = Options();
  o.allowed_netns_roots = {"/proc", "/dev"};
  absl::Status st = ValidateNetnsPath("pod.netns_path", "/dev/null", o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("not a network namespace"));
}

// The backend's opener refuses the host namespace (netfilter's NetnsHandleTest); validation
// reports its refusal as the field's.
TEST(ValidateNetnsPathTest, TheOpenersRefusalIsTheFieldsError) {
  ValidationOptions o = Options();
  o.open_netns = [](const std::string&, const std::string& path) -> absl::StatusOr<netfilter::NetnsHandle> {
    return absl::InvalidArgumentError(
        absl::StrCat("network namespace ", path, " is the host network namespace"));
  };
  absl::StatusOr<netfilter::NetnsHandle> st = ValidateNetnsPath("pod.netns_path", OwnNetns(), o);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.status().message()), HasSubstr("is the host network namespace"));
  EXPECT_THAT(std::string(st.status().message()), StartsWith("pod.netns_path:"));
}

TEST(ValidateNetnsPathTest, TheOpenedHandleTravelsWithThePod) {
  ValidationOptions o = Options();
  std::string seen;
  o.open_netns = [&](const std::string&, const std::string& path) -> absl::StatusOr<netfilter::NetnsHandle> {
    seen = path;
    return netfilter::NetnsHandle{nullptr, NetnsId{7, 42}, path};
  };
  v1::Pod p = GoodPod();
  p.set_netns_path("/run/netns/cni-1234");
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", p, o);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(seen, "/run/netns/cni-1234");
  EXPECT_EQ(got->netns.id, (NetnsId{7, 42}));
  EXPECT_EQ(got->netns_path(), "/run/netns/cni-1234");
}

TEST(ValidateNetnsPathTest, AnOpenedNamespaceIsIdentified) {
  absl::StatusOr<netfilter::NetnsHandle> own = ValidateNetnsPath("f", OwnNetns(), Options());
  ASSERT_TRUE(own.ok()) << own.status();
  absl::StatusOr<netfilter::NetnsHandle> again = netfilter::OpenNetnsHandle(OwnNetns());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(own->id, again->id);
  EXPECT_GE(own->get(), 0);
}

TEST(ValidatePodTest, TheProbeAddressIsNoPodAddress) {
  ValidationOptions o = Options();
  o.probe_addresses = {*IpAddress::Parse("10.99.0.1"), *IpAddress::Parse("fd16::1")};
  for (const char* ip : {"10.99.0.1", "fd16::1"}) {
    v1::Pod p = GoodPod();
    p.clear_ips();
    p.add_ips(ip);
    absl::StatusOr<DesiredPod> got = ValidatePod("pod", p, o);
    ASSERT_FALSE(got.ok()) << ip;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), StartsWith("pod.ips[0]:"));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("probe SNAT address"));
  }
  EXPECT_TRUE(ValidatePod("pod", GoodPod(), o).ok());
}

TEST(ValidatePodTest, PortsAreChecked) {
  v1::Pod p = GoodPod();
  p.mutable_container_ports(0)->set_port(0);
  ExpectInvalid(p, "pod.container_ports[0].port", "1-65535");
  p = GoodPod();
  p.mutable_container_ports(0)->set_port(65536);
  ExpectInvalid(p, "pod.container_ports[0].port", "1-65535");
  p = GoodPod();
  p.mutable_container_ports(0)->set_protocol("ICMP");
  ExpectInvalid(p, "pod.container_ports[0].protocol", "TCP, UDP or SCTP");
  p = GoodPod();
  p.mutable_container_ports(0)->set_name("HTTP_port");
  ExpectInvalid(p, "pod.container_ports[0].name", "IANA");
  p = GoodPod();
  p.add_probe_ports(70000);
  ExpectInvalid(p, "pod.probe_ports[1]", "1-65535");
  p = GoodPod();
  for (const char* proto : {"", "TCP", "UDP", "SCTP"}) {
    p.mutable_container_ports(0)->set_protocol(proto);
    EXPECT_TRUE(ValidatePod("pod", p, Options()).ok()) << proto;
  }
}

TEST(ValidatePodTest, FieldPrefixNamesThePodInASyncRequest) {
  v1::Pod p = GoodPod();
  p.set_uid("");
  absl::StatusOr<DesiredPod> got = ValidatePod("pods[3]", p, Options());
  EXPECT_THAT(std::string(got.status().message()), StartsWith("pods[3].uid:"));
}

TEST(ValidateDistinctPodsTest, RejectsSharedUidIpOrNamespace) {
  DesiredPod a = *ValidatePod("pod", GoodPod(), Options());
  v1::Pod other = GoodPod();
  other.set_uid("other");
  other.clear_ips();
  other.add_ips("10.244.1.8");
  other.set_netns_path(absl::StrCat("/proc/", ::getpid(), "/task/", ::getpid(), "/ns/net"));
  DesiredPod b = *ValidatePod("pod", other, Options());
  EXPECT_TRUE(ValidateDistinctPods({a, b}).ok());

  absl::Status st = ValidateDistinctPods({a, a});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), StartsWith("pods[1].uid:"));

  DesiredPod same_ip = b;
  same_ip.spec.ips = a.spec.ips;
  st = ValidateDistinctPods({a, same_ip});
  EXPECT_THAT(std::string(st.message()), StartsWith("pods[1].ips:"));

  DesiredPod same_ns = b;
  same_ns.spec.netns_path = a.netns_path();
  st = ValidateDistinctPods({a, same_ns});
  EXPECT_THAT(std::string(st.message()), StartsWith("pods[1].netns_path:"));
}

}  // namespace
}  // namespace probesnat::daemon
