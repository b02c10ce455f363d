// The gate never turns a pod it cannot check into "no findings", and SpecFromPod keeps probe ports.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/policy/manifest_loader.h"
#include "agent/policy/pod_convert.h"
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

agent::PodSpec Web() {
  agent::PodSpec p;
  p.uid = "u1";
  p.ns = "shop";
  p.name = "web";
  p.ips = {*IpAddress::Parse("10.244.1.5")};
  p.probe_ports = {8080};
  return p;
}

TEST(GateFailsClosed, APodTheEngineCannotPlaceIsAnErrorNotCompatible) {
  SnapshotPolicyGate gate;
  LoadDenyAll(gate);
  absl::StatusOr<std::vector<Finding>> good = gate.Check(Web());
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_FALSE(good->empty());  // the deny-all policy blocks the probe port

  agent::PodSpec no_namespace = Web();
  no_namespace.ns.clear();
  absl::StatusOr<std::vector<Finding>> r = gate.Check(no_namespace);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("pod.namespace and pod.name are required"));

  agent::PodSpec no_name = Web();
  no_name.name.clear();
  EXPECT_EQ(gate.Check(no_name).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpecFromPodTest, KeepsProbePortsNamedOnesResolved) {
  Pod pod;
  pod.ns = "shop";
  pod.name = "web";
  pod.ports.push_back({"http", 8080, Protocol::kTCP});
  pod.probes.push_back({0, "http"});
  pod.probes.push_back({9090, ""});
  agent::PodSpec spec = SpecFromPod(pod);
  EXPECT_THAT(spec.probe_ports, ElementsAre(8080, 9090));
  absl::StatusOr<Pod> back = PodFromSpec(spec);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ProbePorts(), pod.ProbePorts());
}

}  // namespace
}  // namespace probesnat::policy
