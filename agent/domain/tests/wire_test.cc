#include "agent/domain/wire.h"

#include <functional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::Pod WirePod() {
  v1::Pod p;
  p.set_uid("u1");
  p.set_namespace_("shop");
  p.set_name("web");
  (*p.mutable_labels())["app"] = "web";
  p.add_ips("FD00::7");
  p.add_ips("10.0.0.7");
  p.set_netns_path("/run/netns/cni-1");
  v1::ContainerPort* cp = p.add_container_ports();
  cp->set_name("http");
  cp->set_port(8080);
  cp->set_protocol("udp");
  p.add_container_ports()->set_port(9090);  // protocol left empty: TCP
  p.add_probe_ports(8080);
  p.mutable_overrides()->set_disable_outbound_capture(true);
  return p;
}

TEST(PodFromWireTest, EveryFieldBecomesATypedValue) {
  absl::StatusOr<PodSpec> spec = PodFromWire(WirePod());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->uid, "u1");
  EXPECT_EQ(spec->Key(), "shop/web");
  EXPECT_EQ(spec->DisplayName(), "shop/web (uid u1)");
  EXPECT_EQ(spec->labels.at("app"), "web");
  // Canonical and sorted: IPv4 first, IPv6 in its shortest lower-case form.
  ASSERT_EQ(spec->ips.size(), 2u);
  EXPECT_EQ(spec->ips[0].ToString(), "10.0.0.7");
  EXPECT_EQ(spec->ips[1].ToString(), "fd00::7");
  EXPECT_EQ(spec->netns_path, "/run/netns/cni-1");
  ASSERT_EQ(spec->container_ports.size(), 2u);
  EXPECT_EQ(spec->container_ports[0], (ContainerPort{"http", 8080, Protocol::kUDP}));
  EXPECT_EQ(spec->container_ports[1], (ContainerPort{"", 9090, Protocol::kTCP}));
  EXPECT_THAT(spec->probe_ports, ElementsAre(8080));
  EXPECT_FALSE(spec->overrides.disable_inbound_capture);
  EXPECT_TRUE(spec->overrides.disable_outbound_capture);
}

TEST(PodFromWireTest, WhatCannotBeTypedIsInvalidArgumentNamingTheField) {
  struct Case {
    std::function<void(v1::Pod&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](v1::Pod& p) { p.set_ips(1, "10.0.0.300"); }, "pods[2].ips[1]:"},
      {[](v1::Pod& p) { p.set_ips(1, std::string("10.0.0.7\0x", 10)); }, "pods[2].ips[1]:"},
      {[](v1::Pod& p) { p.mutable_container_ports(1)->set_port(0); },
       "pods[2].container_ports[1].port:"},
      {[](v1::Pod& p) { p.mutable_container_ports(0)->set_port(65536); },
       "pods[2].container_ports[0].port:"},
      {[](v1::Pod& p) { p.mutable_container_ports(0)->set_protocol("QUIC"); },
       "pods[2].container_ports[0].protocol:"},
      {[](v1::Pod& p) { p.add_probe_ports(70000); }, "pods[2].probe_ports[1]:"},
  };
  for (const Case& c : cases) {
    v1::Pod p = WirePod();
    c.edit(p);
    absl::StatusOr<PodSpec> spec = PodFromWire(p, "pods[2]");
    ASSERT_FALSE(spec.ok()) << c.field;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(spec.status().message()), StartsWith(c.field));
  }
}

TEST(PodToWireTest, RoundTripsThroughTheWire) {
  const PodSpec spec = *PodFromWire(WirePod());
  const v1::Pod wire = PodToWire(spec);
  EXPECT_THAT(wire.ips(), ElementsAre("10.0.0.7", "fd00::7"));
  EXPECT_EQ(wire.container_ports(0).protocol(), "UDP");
  EXPECT_EQ(wire.container_ports(1).protocol(), "TCP");
  EXPECT_TRUE(wire.overrides().disable_outbound_capture());
  absl::StatusOr<PodSpec> back = PodFromWire(wire);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, spec);
}

TEST(StateToWireTest, CarriesPhaseReasonFindingsTimeAndGeneration) {
  PodState state;
  state.spec = *PodFromWire(WirePod());
  state.phase = PodPhase::kFailed;
  state.reason = "applying the pod table failed";
  state.updated = absl::FromUnixNanos(1764633600123456789);
  state.generation = 3;
  Finding f;
  f.severity = Severity::kWarning;
  f.kind = FindingKind::kProbeIngress;
  f.subject = "shop/web";
  f.policy_namespace = "shop";
  f.policy_name = "deny";
  f.rule_index = 2;
  f.direction = Direction::kEgress;
  f.message = "probes blocked";
  f.affected_peers = {"169.254.7.127/32"};
  f.cni_dependent = true;
  f.fix_yaml = "kind: NetworkPolicy";
  state.findings = {f};

  const v1::PodStatus wire = StateToWire(state);
  EXPECT_EQ(wire.pod().uid(), "u1");
  EXPECT_EQ(wire.phase(), v1::POD_PHASE_FAILED);
  EXPECT_EQ(wire.reason(), "applying the pod table failed");
  EXPECT_EQ(wire.updated().seconds(), 1764633600);
  EXPECT_EQ(wire.updated().nanos(), 123456789);
  EXPECT_EQ(wire.generation(), 3u);
  ASSERT_EQ(wire.findings_size(), 1);
  const v1::Finding& wf = wire.findings(0);
  EXPECT_EQ(wf.severity(), v1::SEVERITY_WARNING);
  EXPECT_EQ(wf.kind(), v1::FINDING_KIND_PROBE_INGRESS);
  EXPECT_EQ(wf.subject(), "shop/web");
  EXPECT_EQ(wf.policy_namespace(), "shop");
  EXPECT_EQ(wf.policy_name(), "deny");
  EXPECT_EQ(wf.rule_index(), 2);
  EXPECT_EQ(wf.direction(), "egress");
  EXPECT_EQ(wf.message(), "probes blocked");
  EXPECT_THAT(wf.affected_peers(), ElementsAre("169.254.7.127/32"));
  EXPECT_TRUE(wf.cni_dependent());
  EXPECT_EQ(wf.fix_yaml(), "kind: NetworkPolicy");
}

TEST(FindingFromWireTest, RoundTripsAndRefusesWhatItDoesNotKnow) {
  Finding f;
  f.severity = Severity::kWarning;
  f.kind = FindingKind::kHboneEgress;
  f.subject = "shop/web";
  f.policy_namespace = "shop";
  f.policy_name = "egress";
  f.rule_index = 1;
  f.direction = Direction::kEgress;
  f.message = "HBONE blocked";
  f.affected_peers = {"shop/db", "10.0.0.0/8"};
  f.cni_dependent = true;
  f.fix_yaml = "kind: NetworkPolicy";
  absl::StatusOr<Finding> back = FindingFromWire(FindingToWire(f));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, f);

  v1::Finding bad = FindingToWire(f);
  bad.set_direction("sideways");
  EXPECT_EQ(FindingFromWire(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = FindingToWire(f);
  bad.set_kind(static_cast<v1::FindingKind>(99));
  EXPECT_EQ(FindingFromWire(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = FindingToWire(f);
  bad.set_severity(v1::SEVERITY_UNSPECIFIED);
  EXPECT_EQ(FindingFromWire(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PhaseToWireTest, EveryPhaseHasItsWireName) {
  EXPECT_EQ(PhaseToWire(PodPhase::kPending), v1::POD_PHASE_PENDING);
  EXPECT_EQ(PhaseToWire(PodPhase::kApplied), v1::POD_PHASE_APPLIED);
  EXPECT_EQ(PhaseToWire(PodPhase::kFailed), v1::POD_PHASE_FAILED);
  EXPECT_EQ(PhaseToWire(PodPhase::kRemoved), v1::POD_PHASE_REMOVED);
  for (PodPhase phase :
       {PodPhase::kPending, PodPhase::kApplied, PodPhase::kFailed, PodPhase::kRemoved}) {
    EXPECT_THAT(v1::PodPhase_Name(PhaseToWire(phase)), HasSubstr(PodPhaseName(phase)));
  }
}

}  // namespace
}  // namespace probesnat::agent
