// What a hostile or broken client can send: oversized and NUL-carrying fields, addresses that
// would capture the node or pass as the probe address, log forging, a looser policy mode, and
// Watch streams that never read.
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/pod_validation.h"
#include "agent/daemon/policy_admission.h"
#include "agent/daemon/status_event_hub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using netfilter::InterfaceAddress;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

v1::Pod GoodPod() {
  v1::Pod p;
  p.set_uid("0f9c2b7e-5c1a-4d0e-9a8b-1c2d3e4f5a6b");
  p.set_namespace_("shop");
  p.set_name("web-7d9f8c6b5-xk2lp");
  (*p.mutable_labels())["app.kubernetes.io/name"] = "web";
  (*p.mutable_labels())["pod-template-hash"] = "7d9f8c6b5";
  p.add_ips("10.244.1.7");
  p.add_ips("fd00:10:244:1::7");
  p.set_netns_path(absl::StrCat("/proc/", ::getpid(), "/ns/net"));
  auto* port = p.add_container_ports();
  port->set_name("http");
  port->set_port(8080);
  p.add_probe_ports(8080);
  return p;
}

// The node has 10.244.1.1 on veth-a and fd00:99::1 on eth0; the probe addresses are the defaults.
ValidationOptions Options() {
  ValidationOptions o;
  o.allowed_netns_roots = {"/run/netns", "/proc"};
  o.open_netns = netfilter::OpenNetnsHandleBeneath;
  o.probe_addresses = {Ip("169.254.7.127"), Ip("fd16:9254:7127:1337:ffff:ffff:ffff:ffff")};
  o.node_addresses = []() -> absl::StatusOr<std::vector<InterfaceAddress>> {
    return std::vector<InterfaceAddress>{{"veth-a", Ip("10.244.1.1")}, {"eth0", Ip("fd00:99::1")}};
  };
  return o;
}

// INVALID_ARGUMENT whose message starts with `field` and mentions `detail`; returns the message.
std::string ExpectInvalid(const v1::Pod& pod, const std::string& field, const std::string& detail,
                          const ValidationOptions& options = Options()) {
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", pod, options);
  if (got.ok()) {
    ADD_FAILURE() << "accepted a pod with a bad " << field;
    return "";
  }
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
  std::string message(got.status().message());
  EXPECT_THAT(message, StartsWith(field + ":"));
  EXPECT_THAT(message, HasSubstr(detail));
  return message;
}

std::string LabelField(const std::string& key) {
  return absl::StrCat("pod.labels[\"", EscapeClientText(key), "\"]");
}

TEST(HostileInputTest, TheGoodPodPasses) {
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", GoodPod(), Options());
  EXPECT_TRUE(got.ok()) << got.status();
}

// 16.9: limits per field, and error messages that echo at most a bounded part of the input.
TEST(HostileInputTest, OversizedFieldsAreRefusedNamingTheFieldAndTheLimit) {
  const std::string huge(10 << 20, 'a');
  v1::Pod p = GoodPod();
  p.set_name(huge);
  std::string message = ExpectInvalid(p, "pod.name", "at most 253");
  EXPECT_LT(message.size(), 1024u) << "the error echoes the whole name";
  EXPECT_THAT(message, HasSubstr("(10485760 bytes)"));

  p = GoodPod();
  p.set_namespace_(huge);
  EXPECT_LT(ExpectInvalid(p, "pod.namespace", "at most 63").size(), 1024u);

  p = GoodPod();
  p.set_uid(huge);
  ExpectInvalid(p, "pod.uid", "longer than 128");

  p = GoodPod();
  for (int i = 0; i < 100000; ++i) {
    (*p.mutable_labels())[absl::StrCat("k", i)] = "v";
  }
  ExpectInvalid(p, "pod.labels", "at most 128 labels, got 100002");

  p = GoodPod();
  (*p.mutable_labels())["app"] = huge;
  message = ExpectInvalid(p, "pod.labels[\"app\"]", "at most 63 characters");
  EXPECT_LT(message.size(), 1024u);

  p = GoodPod();
  (*p.mutable_labels())[huge] = "x";
  EXPECT_LT(ExpectInvalid(p, LabelField(huge), "bad label key").size(), 1024u);

  p = GoodPod();
  for (int i = 0; i < 1000000; ++i) {
    p.add_container_ports()->set_port(1 + i % 65535);
  }
  ExpectInvalid(p, "pod.container_ports", "at most 256 ports, got 1000001");

  p = GoodPod();
  for (int i = 0; i < 1000000; ++i) {
    p.add_probe_ports(1 + i % 65535);
  }
  ExpectInvalid(p, "pod.probe_ports", "at most 128 ports, got 1000001");

  p = GoodPod();
  p.set_netns_path("/run/netns/" + std::string(5000, 'x'));
  ExpectInvalid(p, "pod.netns_path", "PATH_MAX");

  p = GoodPod();
  p.set_ips(0, std::string(10 << 20, '1'));
  EXPECT_LT(ExpectInvalid(p, "pod.ips[0]", "not an IP address").size(), 1024u);
}

TEST(HostileInputTest, LimitsAreTheMaximumNotBelowIt) {
  v1::Pod p = GoodPod();
  p.clear_labels();
  for (int i = 0; i < 128; ++i) {
    (*p.mutable_labels())[absl::StrCat("example.com/", std::string(50, 'k'), i)] =
        std::string(63, 'v');
  }
  p.clear_container_ports();
  for (int i = 0; i < 256; ++i) {
    p.add_container_ports()->set_port(1000 + i);
  }
  p.clear_probe_ports();
  for (int i = 0; i < 128; ++i) {
    p.add_probe_ports(1000 + i);
  }
  p.set_name(std::string(253, 'n'));
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", p, Options());
  EXPECT_TRUE(got.ok()) << got.status();
}

TEST(HostileInputTest, LabelsFollowKubernetesSyntax) {
  for (const char* key :
       {"", "-app", "app-", "a b", "app\n", "Example.com/app", "/app", "a/b/c", "example.com/"}) {
    v1::Pod p = GoodPod();
    (*p.mutable_labels())[key] = "x";
    ExpectInvalid(p, LabelField(key), "bad label key");
  }
  for (const char* value : {"-x", "x-", "a b", "x\n", "x\"y"}) {
    v1::Pod p = GoodPod();
    (*p.mutable_labels())["app"] = value;
    ExpectInvalid(p, "pod.labels[\"app\"]", "is not a label value");
  }
  v1::Pod p = GoodPod();
  (*p.mutable_labels())["App_Name.v2"] = "";
  (*p.mutable_labels())["k8s.io/Part-Of"] = "My_App.1";
  EXPECT_TRUE(ValidatePod("pod", p, Options()).ok());
}

TEST(HostileInputTest, SyncCarriesABoundedNumberOfPods) {
  ValidationLimits limits;
  EXPECT_TRUE(ValidateSyncSize(1024, limits).ok());
  absl::Status st = ValidateSyncSize(1025, limits);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), StartsWith("pods: at most 1024 pods"));
}

// 16.10 (NUL part): the kernel and inet_pton see only the part before a NUL.
TEST(HostileInputTest, ANulByteAnywhereIsRefused) {
  using std::string_literals::operator""s;
  v1::Pod p = GoodPod();
  p.set_ips(0, "10.244.1.7\0"s);
  std::string message = ExpectInvalid(p, "pod.ips[0]", "not an IP address");
  EXPECT_THAT(message, HasSubstr("\\x00"));
  p = GoodPod();
  p.set_ips(1, "fd00:10:244:1::7\0junk"s);
  ExpectInvalid(p, "pod.ips[1]", "not an IP address");
  p = GoodPod();
  p.set_netns_path(p.netns_path() + "\0junk"s);
  ExpectInvalid(p, "pod.netns_path", "NUL");
  p = GoodPod();
  p.set_netns_path("/run/netns/x\0/../y"s);
  ExpectInvalid(p, "pod.netns_path", "NUL");
  p = GoodPod();
  p.set_uid("abc\0def"s);
  ExpectInvalid(p, "pod.uid", "may contain only");
  p = GoodPod();
  p.set_name("web\0x"s);
  ExpectInvalid(p, "pod.name", "DNS-1123");
  p = GoodPod();
  p.set_namespace_("shop\0"s);
  ExpectInvalid(p, "pod.namespace", "DNS-1123");
}

TEST(HostileInputTest, ControlCharactersInThePathAreRefused) {
  v1::Pod p = GoodPod();
  p.set_netns_path("/run/netns/x\n2026-01-01T00:00:00Z info forged");
  std::string message = ExpectInvalid(p, "pod.netns_path", "control character");
  EXPECT_THAT(message, Not(HasSubstr("\n")));
}

struct BadIp {
  const char* ip;
  const char* detail;
};

// 16.12: each form that must not be a pod address.
TEST(HostileInputTest, AddressesThatCannotBePodAddressesAreRefused) {
  for (const BadIp& c : {
           BadIp{"240.0.0.1", "reserved"},
           BadIp{"255.255.255.254", "reserved"},
           BadIp{"255.255.255.255", "broadcast"},
           BadIp{"127.0.0.53", "loopback"},
           BadIp{"0.1.2.3", "unspecified"},
           BadIp{"239.1.1.1", "multicast"},
           BadIp{"169.254.1.1", "link-local"},
           BadIp{"169.254.7.127", "link-local"},
           BadIp{"::", "unspecified"},
           BadIp{"::1", "loopback"},
           BadIp{"ff05::2", "multicast"},
           BadIp{"fe80::1", "link-local"},
           BadIp{"::169.254.7.127", "IPv4-compatible"},
           BadIp{"::10.1.2.3", "IPv4-compatible"},
           BadIp{"::ffff:169.254.7.127", "IPv4-mapped"},
           BadIp{"64:ff9b::a9fe:77f", "NAT64"},
           BadIp{"64:ff9b::10.1.2.3", "NAT64"},
           BadIp{"64:ff9b:1::a9fe:77f", "NAT64"},
           BadIp{"2002:a9fe:77f::1", "embeds the probe SNAT address 169.254.7.127"},
           BadIp{"fd16:9254:7127:1337:ffff:ffff:ffff:ffff", "is the probe SNAT address"},
           BadIp{"FD16:9254:7127:1337:FFFF:FFFF:FFFF:FFFF", "is the probe SNAT address"},
           BadIp{"fd16:9254:7127:1337::1", "inside the probe SNAT address's /64"},
           BadIp{"fd16:9254:7127:1337:1:2:3:4", "fd16:9254:7127:1337::/64"},
       }) {
    v1::Pod p = GoodPod();
    p.clear_ips();
    p.add_ips(c.ip);
    SCOPED_TRACE(c.ip);
    ExpectInvalid(p, "pod.ips[0]", c.detail);
  }
}

TEST(HostileInputTest, CgnatDocumentationAndNeighboursOfTheProbeRangeAreAllowed) {
  for (const char* ip : {"100.64.0.1", "100.127.255.254", "192.0.2.10", "2001:db8::10",
                         "fd16:9254:7127:1338::1", "2002:a01:203::1", "64:ff9a::1", "223.1.1.1"}) {
    v1::Pod p = GoodPod();
    p.clear_ips();
    p.add_ips(ip);
    absl::StatusOr<DesiredPod> got = ValidatePod("pod", p, Options());
    EXPECT_TRUE(got.ok()) << ip << ": " << got.status();
  }
}

TEST(HostileInputTest, TheNodesOwnAddressesAreRefusedNamingTheInterface) {
  v1::Pod p = GoodPod();
  p.set_ips(0, "10.244.1.1");
  ExpectInvalid(p, "pod.ips[0]", "10.244.1.1 is an address of the node (interface veth-a)");
  p = GoodPod();
  p.set_ips(1, "FD00:99:0::1");
  ExpectInvalid(p, "pod.ips[1]", "fd00:99::1 is an address of the node (interface eth0)");
}

TEST(HostileInputTest, TheNodeAddressesAreAskedAtValidationTime) {
  ValidationOptions o = Options();
  std::vector<InterfaceAddress> node;
  o.node_addresses = [&]() -> absl::StatusOr<std::vector<InterfaceAddress>> { return node; };
  EXPECT_TRUE(ValidatePod("pod", GoodPod(), o).ok());
  node.push_back({"br0", Ip("10.244.1.7")});
  ExpectInvalid(GoodPod(), "pod.ips[0]", "interface br0", o);
  o.node_addresses = []() -> absl::StatusOr<std::vector<InterfaceAddress>> {
    return absl::InternalError("netlink says no");
  };
  absl::StatusOr<DesiredPod> got = ValidatePod("pod", GoodPod(), o);
  EXPECT_FALSE(got.ok()) << "validated without knowing the node's addresses";
}

TEST(HostileInputTest, TheRealListerSeesThisNamespacesLoopback) {
  absl::StatusOr<std::vector<InterfaceAddress>> own = netfilter::ListOwnAddresses();
  ASSERT_TRUE(own.ok()) << own.status();
  bool lo = false;
  for (const InterfaceAddress& a : *own) {
    lo |= a.interface == "lo" && a.address == Ip("127.0.0.1");
  }
  EXPECT_TRUE(lo);
}

TEST(HostileInputTest, AddressesAreCanonicalisedSoConflictsSeeOneAddress) {
  v1::Pod p = GoodPod();
  p.set_ips(1, "FD00:10:244:1:0:0:0:7");
  absl::StatusOr<DesiredPod> upper = ValidatePod("pod", p, Options());
  ASSERT_TRUE(upper.ok()) << upper.status();
  EXPECT_EQ(upper->spec.ips[1].ToString(), "fd00:10:244:1::7");
  v1::Pod other = GoodPod();
  other.set_uid("other");
  other.set_ips(0, "10.244.1.8");
  other.set_netns_path(absl::StrCat("/proc/", ::getpid(), "/task/", ::getpid(), "/ns/net"));
  absl::StatusOr<DesiredPod> lower = ValidatePod("pod", other, Options());
  ASSERT_TRUE(lower.ok()) << lower.status();
  absl::Status st = ValidateDistinctPods({*upper, *lower});
  EXPECT_THAT(std::string(st.message()), StartsWith("pods[1].ips: fd00:10:244:1::7"));
}

// 18.3
TEST(HostileInputTest, ClientTextIsEscapedAndCapped) {
  EXPECT_EQ(EscapeClientText("plain-text_1.2/x"), "plain-text_1.2/x");
  EXPECT_EQ(EscapeClientText(std::string("a\nb\r\0\x1b[31m\"\\\x7f\xc3\xa9", 15)),
            "a\\x0ab\\x0d\\x00\\x1b[31m\\x22\\x5c\\x7f\\xc3\\xa9");
  std::string big(10 << 20, 'z');
  std::string shown = EscapeClientText(big);
  EXPECT_EQ(shown, std::string(256, 'z') + "...(10485760 bytes)");
  EXPECT_EQ(fmt::format("uid={}", ClientText{"x\ny"}), "uid=\"x\\x0ay\"");
}

// 18.4
TEST(HostileInputTest, TheConfiguredPolicyModeIsAFloor) {
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_OFF, PolicyMode::kEnforce), PolicyMode::kEnforce);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_WARN, PolicyMode::kEnforce), PolicyMode::kEnforce);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_OFF, PolicyMode::kWarn), PolicyMode::kWarn);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_ENFORCE, PolicyMode::kWarn), PolicyMode::kEnforce);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_WARN, PolicyMode::kOff), PolicyMode::kWarn);
  EXPECT_EQ(ResolvePolicyMode(v1::POLICY_MODE_UNSPECIFIED, PolicyMode::kWarn), PolicyMode::kWarn);
  EXPECT_EQ(ResolvePolicyMode(static_cast<v1::PolicyMode>(99), PolicyMode::kEnforce),
            PolicyMode::kEnforce);
  EXPECT_TRUE(IsLooserThanConfigured(v1::POLICY_MODE_OFF, PolicyMode::kEnforce));
  EXPECT_TRUE(IsLooserThanConfigured(v1::POLICY_MODE_WARN, PolicyMode::kEnforce));
  EXPECT_FALSE(IsLooserThanConfigured(v1::POLICY_MODE_ENFORCE, PolicyMode::kEnforce));
  EXPECT_FALSE(IsLooserThanConfigured(v1::POLICY_MODE_UNSPECIFIED, PolicyMode::kEnforce));
}

// 16.4
agent::PodState BigStatus(int i, size_t bytes) {
  agent::PodState s;
  s.spec.uid = absl::StrCat("u", i);
  s.reason = std::string(bytes, 'r');
  return s;
}

TEST(HostileInputTest, ASubscriberThatDoesNotReadOverflowsOnBytes) {
  StatusEventHub hub(StatusEventLimits{
      .events_per_subscriber = 1000, .bytes_per_subscriber = 1 << 20, .bytes_total = 64 << 20});
  auto slow = hub.Subscribe({});
  auto fast = hub.Subscribe({});
  agent::PodState s;
  for (int i = 0; i < 20; ++i) {
    hub.Publish(BigStatus(i, 100 << 10));
    ASSERT_EQ(fast->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent);
  }
  EXPECT_EQ(slow->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kOverflowed);
  EXPECT_EQ(hub.queued_bytes(), 0u) << "the overflowed queue still holds its events";
}

TEST(HostileInputTest, TheGlobalBoundOverflowsTheSubscribersFurthestBehind) {
  StatusEventHub hub(StatusEventLimits{
      .events_per_subscriber = 1000, .bytes_per_subscriber = 64 << 20, .bytes_total = 2 << 20});
  std::vector<std::shared_ptr<StatusSubscription>> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(hub.Subscribe({}));
  }
  auto reader = hub.Subscribe({});
  agent::PodState s;
  for (int i = 0; i < 50; ++i) {
    hub.Publish(BigStatus(i, 100 << 10));
    EXPECT_LE(hub.queued_bytes(), size_t{2 << 20});
    ASSERT_EQ(reader->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent) << i;
  }
  for (auto& sub : idle) {
    EXPECT_EQ(sub->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kOverflowed);
  }
}

TEST(HostileInputTest, AnEndedStreamGivesBackItsBytes) {
  StatusEventHub hub;
  auto sub = hub.Subscribe({});
  hub.Publish(BigStatus(1, 1000));
  EXPECT_GT(hub.queued_bytes(), 1000u);
  hub.Unsubscribe(sub);
  EXPECT_EQ(hub.queued_bytes(), 0u);
}

}  // namespace
}  // namespace probesnat::daemon
