// The in-pod probe bypass is limited to the families a pod is enrolled with, proven with real
// packets. Topology, all in namespaces the test creates and removes:
//
//   outside 10.200.2.2 ── vout │ node │ vpod ── pod 10.200.1.2, fd00:1::2 (dual-stack)
//           fd00:2::2          │      │
//   + both probe addresses     default routes via the outside, forwarding on
//
// A pod enrolled with one family has only that address in the host's sets, so the host's
// anti-spoofing drop does not cover its other address: a SYN forged from the other family's probe
// address is forwarded to the pod. There it must be captured (it lands on the inbound capture
// port), not accepted as a kubelet probe straight to the app.
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netfilter/nftables_backend.h"
#include "netfilter/rules_spec.h"
#include "netfilter/testing/node_pod_topology.h"
#include "netfilter/testing/packet_sockets.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter {
namespace {

using ::probesnat::netfilter::testing::Accepted;
using ::probesnat::netfilter::testing::AcceptOne;
using ::probesnat::netfilter::testing::Connect;
using ::probesnat::netfilter::testing::Listen;
using ::probesnat::netfilter::testing::NodePodTopologyOptions;
using ::probesnat::netfilter::testing::ScopedNetns;
using ::probesnat::netfilter::testing::StartConnect;
using ::probesnat::netfilter::testing::WireNodePodTopology;

constexpr uint16_t kAppPort = 8080;
constexpr uint16_t kCapturePort = 15006;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

const IpAddress& PodIp(IpFamily family) {
  static const IpAddress v4 = Ip("10.200.1.2"), v6 = Ip("fd00:1::2");
  return family == IpFamily::kV4 ? v4 : v6;
}

IpAddress Probe(IpFamily family) {
  return family == IpFamily::kV4 ? DefaultProbeV4() : DefaultProbeV6();
}

IpFamily Other(IpFamily family) { return family == IpFamily::kV4 ? IpFamily::kV6 : IpFamily::kV4; }

class ProbeFamilyPacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root: builds a namespace topology and sends real packets";
    }
    ScopedNetns::RemoveStale();
    for (auto [slot, label] : {std::pair{&node_, "node"}, {&pod_, "pod"}, {&outside_, "out"}}) {
      absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create(label);
      ASSERT_TRUE(ns.ok()) << ns.status();
      slot->emplace(*std::move(ns));
    }
    // The forger outside holds both probe addresses; the node's default routes point at it, so the
    // pod's answers to a forged source reach the forger.
    NodePodTopologyOptions topology;
    topology.more_outside_addresses = {absl::StrCat(DefaultProbeV4().ToString(), "/32 dev eth0"),
                                       absl::StrCat(DefaultProbeV6().ToString(), "/128 dev eth0 nodad")};
    topology.node_default_via_outside = true;
    absl::Status wired = WireNodePodTopology(*node_, *pod_, *outside_, topology);
    ASSERT_TRUE(wired.ok()) << wired;
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeNftablesBackend(node_->path());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    ASSERT_TRUE(backend_->EnsureHost(HostRules{}).ok());
  }

  void TearDown() override { backend_.reset(); }

  // What the agent does for a pod enrolled with `family` only: the pod's address of that family in
  // the host set, and the pod table for that family.
  void EnrollOnly(IpFamily family) {
    ASSERT_TRUE(backend_->UpdateHostMembers({{PodIp(family), "pod-uid"}}, {}).ok());
    PodRules rules;
    rules.enrolled_v4 = family == IpFamily::kV4;
    rules.enrolled_v6 = family == IpFamily::kV6;
    ASSERT_TRUE(backend_->ApplyPod(pod_->path(), rules, TableOwner{"pod-uid", 1}).ok());
  }

  // Which of the pod's app (0) and capture (1) listeners of `family` a connection from `from`
  // (source `src` if given) to the pod's address of that family reaches, and from where.
  absl::StatusOr<Accepted> Reach(const ScopedNetns& from, const IpAddress* src, IpFamily family) {
    absl::StatusOr<UniqueFd> app = Listen(*pod_, family, kAppPort);
    absl::StatusOr<UniqueFd> capture = Listen(*pod_, family, kCapturePort);
    if (!app.ok() || !capture.ok()) {
      return app.ok() ? capture.status() : app.status();
    }
    absl::StatusOr<UniqueFd> client = StartConnect(from, src, PodIp(family), kAppPort);
    if (!client.ok()) {
      return client.status();
    }
    return AcceptOne({&*app, &*capture});
  }

  // A SYN forged from the probe address of `family` to the pod's address of that family.
  absl::StatusOr<Accepted> ForgedProbe(IpFamily family) {
    const IpAddress probe = Probe(family);
    return Reach(*outside_, &probe, family);
  }

  std::optional<ScopedNetns> node_, pod_, outside_;
  std::unique_ptr<Backend> backend_;
};

constexpr size_t kApp = 0, kCapture = 1;

TEST_F(ProbeFamilyPacketTest, ForgedProbeSourceOfTheFamilyNotEnrolledIsCaptured) {
  for (IpFamily enrolled : {IpFamily::kV4, IpFamily::kV6}) {
    const IpFamily other = Other(enrolled);
    SCOPED_TRACE(enrolled == IpFamily::kV4 ? "enrolled with v4 only, forged v6"
                                           : "enrolled with v6 only, forged v4");
    ASSERT_TRUE(backend_->UpdateHostMembers({}, {PodIp(IpFamily::kV4), PodIp(IpFamily::kV6)}).ok());
    EnrollOnly(enrolled);

    // The host does not drop it (the pod's other address is not enrolled), the pod captures it.
    absl::StatusOr<Accepted> got = ForgedProbe(other);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->listener, kCapture) << "the forged probe source skipped capture";
    EXPECT_EQ(got->peer, Probe(other).ToString());

    // The enrolled family is unchanged: real probes from the node skip capture with the probe
    // source, and forgeries of it do not arrive at all.
    got = Reach(*node_, nullptr, enrolled);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->listener, kApp);
    EXPECT_EQ(got->peer, Probe(enrolled).ToString());
    got = ForgedProbe(enrolled);
    EXPECT_FALSE(got.ok()) << "a forgery of the enrolled family's probe address arrived at #"
                           << got->listener;

    // Node traffic to the other address is not SNATed; like any inbound TCP it is captured.
    got = Reach(*node_, nullptr, other);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->listener, kCapture);
    EXPECT_EQ(got->peer, other == IpFamily::kV4 ? "10.200.1.1" : "fd00:1::1");
  }
}

// Control: with the other family's probe source trusted in the pod (the table of a pod enrolled
// with both families) the very same forgery skips capture; it is the omitted rule that stops it.
TEST_F(ProbeFamilyPacketTest, WithBothProbeSourcesTrustedTheSameForgeryWouldSkipCapture) {
  for (IpFamily enrolled : {IpFamily::kV4, IpFamily::kV6}) {
    const IpFamily other = Other(enrolled);
    SCOPED_TRACE(enrolled == IpFamily::kV4 ? "host set v4 only, forged v6"
                                           : "host set v6 only, forged v4");
    ASSERT_TRUE(backend_->UpdateHostMembers({}, {PodIp(IpFamily::kV4), PodIp(IpFamily::kV6)}).ok());
    ASSERT_TRUE(backend_->UpdateHostMembers({{PodIp(enrolled), "pod-uid"}}, {}).ok());
    ASSERT_TRUE(backend_->ApplyPod(pod_->path(), PodRules{}, TableOwner{"pod-uid", 1}).ok());
    absl::StatusOr<Accepted> got = ForgedProbe(other);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->listener, kApp);
    EXPECT_EQ(got->peer, Probe(other).ToString());
  }
}

// Enrolled with both families: node-originated probes on both arrive from the probe addresses and
// skip capture, forgeries of either are dropped by the host.
TEST_F(ProbeFamilyPacketTest, EnrolledWithBothFamiliesProbesOfBothSkipCapture) {
  ASSERT_TRUE(backend_
                  ->UpdateHostMembers(
                      {{PodIp(IpFamily::kV4), "pod-uid"}, {PodIp(IpFamily::kV6), "pod-uid"}}, {})
                  .ok());
  ASSERT_TRUE(backend_->ApplyPod(pod_->path(), PodRules{}, TableOwner{"pod-uid", 1}).ok());
  for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
    SCOPED_TRACE(family == IpFamily::kV4 ? "v4" : "v6");
    absl::StatusOr<Accepted> got = Reach(*node_, nullptr, family);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->listener, kApp);
    EXPECT_EQ(got->peer, Probe(family).ToString());
    got = ForgedProbe(family);
    EXPECT_FALSE(got.ok()) << "a forged probe source arrived at #" << got->listener;
  }
}

}  // namespace
}  // namespace probesnat::netfilter
