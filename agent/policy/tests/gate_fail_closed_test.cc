// The gate never turns a pod it cannot check into "no findings", and PodToProto keeps probe ports.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/policy/manifest_loader.h"
#include "agent/policy/proto_convert.h"
#include "agent/policy/snapshot_policy_gate.h"

namespace probesnat::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every pod of `shop` isolated for ingress with nothing allowed: enrolling one is a blocking
// finding (the probe address cannot reach its probe port).
constexpr char kDenyAll[] = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
)";

void LoadDenyAll(SnapshotPolicyGate& gate) {
  ManifestLoader loader;
  ASSERT_TRUE(loader.AddText(kDenyAll, "deny-all").ok());
  gate.SetSnapshot(loader.TakeCluster());
}

v1::Pod Web() {
  v1::Pod p;
  p.set_uid("u1");
  p.set_namespace_("shop");
  p.set_name("web");
  p.add_ips("10.244.1.5");
  p.add_probe_ports(8080);
  return p;
}

TEST(GateFailsClosed, APodThatDoesNotConvertIsAnErrorNotCompatible) {
  SnapshotPolicyGate gate;
  LoadDenyAll(gate);
  absl::StatusOr<std::vector<v1::Finding>> good = gate.Check(Web());
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_FALSE(good->empty());  // the deny-all policy blocks the probe port

  v1::Pod bad = Web();
  bad.add_ips("10.244.1.500");
  absl::StatusOr<std::vector<v1::Finding>> r = gate.Check(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("pod.ips"));

  v1::Pod bad_protocol = Web();
  v1::ContainerPort* cp = bad_protocol.add_container_ports();
  cp->set_port(80);
  cp->set_protocol("QUIC");
  EXPECT_EQ(gate.Check(bad_protocol).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PodToProtoTest, KeepsProbePortsNamedOnesResolved) {
  Pod pod;
  pod.ns = "shop";
  pod.name = "web";
  pod.ports.push_back({"http", 8080, Protocol::kTCP});
  pod.probes.push_back({0, "http"});
  pod.probes.push_back({9090, ""});
  v1::Pod proto = PodToProto(pod);
  EXPECT_THAT(proto.probe_ports(), ElementsAre(8080u, 9090u));
  absl::StatusOr<Pod> back = PodFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ProbePorts(), pod.ProbePorts());
}

}  // namespace
}  // namespace probesnat::policy
