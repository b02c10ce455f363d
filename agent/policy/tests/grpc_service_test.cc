// probesnat.v1.Policy over a real unix socket with the generated client stub.
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "agent/domain/wire.h"
#include "agent/policy/policy_service.h"

namespace probesnat::policy {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PolicyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = ::testing::TempDir() + "/policy-" + std::to_string(getpid()) + ".sock";
    unlink(socket_.c_str());
    service_ = std::make_unique<PolicyServiceImpl>(&gate_);
    grpc::ServerBuilder b;
    b.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Policy::NewStub(
        grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown();
    unlink(socket_.c_str());
  }
  grpc::Status Replace(const std::vector<std::string>& manifests,
                       v1::ReplacePolicySnapshotResponse* resp) {
    v1::ReplacePolicySnapshotRequest req;
    for (const auto& m : manifests) {
      req.add_manifests(m);
    }
    grpc::ClientContext ctx;
    return stub_->ReplaceSnapshot(&ctx, req, resp);
  }
  grpc::Status Check(const v1::Pod& pod, v1::CheckResponse* resp,
                     std::vector<uint32_t> probe_ports = {}) {
    v1::CheckRequest req;
    *req.mutable_pod() = pod;
    for (uint32_t p : probe_ports) {
      req.add_probe_ports(p);
    }
    grpc::ClientContext ctx;
    return stub_->Check(&ctx, req, resp);
  }
  static v1::Pod Frontend() {
    v1::Pod p;
    p.set_uid("uid-frontend");
    p.set_namespace_("shop");
    p.set_name("frontend-7d9f8b-abcde");
    (*p.mutable_labels())["app.kubernetes.io/name"] = "frontend";
    p.add_ips("10.244.1.5");
    return p;
  }

  std::string socket_;
  SnapshotPolicyGate gate_;
  std::unique_ptr<PolicyServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Policy::Stub> stub_;
};

const std::string kCluster = std::string(POLICY_TESTDATA) + "/corpus/kubectl_output/cluster.yaml";

TEST_F(PolicyServiceTest, NoSnapshotMeansCompatible) {
  v1::CheckResponse resp;
  ASSERT_TRUE(Check(Frontend(), &resp).ok());
  EXPECT_TRUE(resp.compatible());
  EXPECT_EQ(resp.findings_size(), 0);
}

TEST_F(PolicyServiceTest, ReplaceSnapshotCountsObjectsAndReportsProblems) {
  v1::ReplacePolicySnapshotResponse resp;
  ASSERT_TRUE(Replace({ReadFile(kCluster),
                       ReadFile(std::string(POLICY_TESTDATA) + "/invalid/policies.yaml")},
                      &resp)
                  .ok());
  EXPECT_EQ(resp.namespaces(), 3u);  // shop, monitoring, default
  EXPECT_EQ(resp.pods(), 3u);
  EXPECT_EQ(resp.policies(), 3u);  // 2 + "good"
  ASSERT_GE(resp.problems_size(), 13);
  EXPECT_NE(
      resp.problems(0).find(
          "manifests[1]: NetworkPolicy default/bad-cidr: spec.ingress[0].from[0].ipBlock.cidr"),
      std::string::npos)
      << resp.problems(0);
}

grpc::Status SnapshotStatus(v1::Policy::Stub& stub, v1::PolicySnapshotStatus* resp) {
  grpc::ClientContext ctx;
  return stub.GetSnapshotStatus(&ctx, v1::GetPolicySnapshotStatusRequest(), resp);
}

TEST_F(PolicyServiceTest, SnapshotStatusSaysWhetherWhenAndFromWhomOneWasLoaded) {
  v1::PolicySnapshotStatus before;
  ASSERT_TRUE(SnapshotStatus(*stub_, &before).ok());
  EXPECT_FALSE(before.loaded());
  EXPECT_FALSE(before.has_loaded_at());
  EXPECT_EQ(before.source(), "");
  EXPECT_FALSE(before.enroll_refused());  // the service was built without a policy mode

  const absl::Time start = absl::Now();
  v1::ReplacePolicySnapshotResponse r;
  ASSERT_TRUE(Replace({ReadFile(kCluster)}, &r).ok());
  absl::SleepFor(absl::Milliseconds(50));
  v1::PolicySnapshotStatus after;
  ASSERT_TRUE(SnapshotStatus(*stub_, &after).ok());
  EXPECT_TRUE(after.loaded());
  EXPECT_EQ(after.namespaces(), r.namespaces());
  EXPECT_EQ(after.pods(), r.pods());
  EXPECT_EQ(after.policies(), r.policies());
  EXPECT_EQ(after.source().rfind("Policy.ReplaceSnapshot from ", 0), 0u) << after.source();
  const absl::Time loaded_at = absl::FromUnixSeconds(after.loaded_at().seconds()) +
                               absl::Nanoseconds(after.loaded_at().nanos());
  EXPECT_GE(loaded_at, start);
  EXPECT_LE(loaded_at, absl::Now());
  EXPECT_GE(after.age_seconds(), 0.05);
  EXPECT_LT(after.age_seconds(), 30);
  EXPECT_FALSE(after.enroll_refused());
}

TEST(PolicyServiceModeTest, EnforceWithoutASnapshotSaysEnrollIsRefused) {
  SnapshotPolicyGate gate;
  PolicyServiceImpl service(&gate, v1::POLICY_MODE_ENFORCE);
  v1::PolicySnapshotStatus status;
  ASSERT_TRUE(service.GetSnapshotStatus(nullptr, nullptr, &status).ok());
  EXPECT_FALSE(status.loaded());
  EXPECT_EQ(status.policy_mode(), v1::POLICY_MODE_ENFORCE);
  EXPECT_TRUE(status.enroll_refused());
  gate.SetSnapshot(Cluster(), "test");
  v1::PolicySnapshotStatus loaded;
  ASSERT_TRUE(service.GetSnapshotStatus(nullptr, nullptr, &loaded).ok());
  EXPECT_TRUE(loaded.loaded());
  EXPECT_EQ(loaded.source(), "test");
  EXPECT_FALSE(loaded.enroll_refused());
}

TEST_F(PolicyServiceTest, MalformedManifestIsInvalidArgumentAndKeepsTheOldSnapshot) {
  v1::ReplacePolicySnapshotResponse resp;
  ASSERT_TRUE(Replace({ReadFile(kCluster)}, &resp).ok());
  v1::ReplacePolicySnapshotResponse resp2;
  grpc::Status s = Replace({"kind: [unclosed"}, &resp2);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::CheckResponse check;
  ASSERT_TRUE(Check(Frontend(), &check).ok());
  EXPECT_FALSE(check.compatible());  // the old snapshot still applies
}

TEST_F(PolicyServiceTest, CheckReportsFindingsWithFixes) {
  v1::ReplacePolicySnapshotResponse r;
  ASSERT_TRUE(Replace({ReadFile(kCluster)}, &r).ok());
  v1::CheckResponse resp;
  ASSERT_TRUE(Check(Frontend(), &resp, {8080}).ok());
  EXPECT_FALSE(resp.compatible());
  bool hbone = false;
  for (const v1::Finding& f : resp.findings()) {
    EXPECT_EQ(f.severity(), v1::SEVERITY_ERROR);
    EXPECT_EQ(f.subject(), "shop/frontend-7d9f8b-abcde");
    EXPECT_EQ(f.policy_name(), "frontend");
    EXPECT_NE(f.fix_yaml().find("kind: NetworkPolicy"), std::string::npos);
    if (f.kind() == v1::FINDING_KIND_HBONE_INGRESS) {
      hbone = true;
      EXPECT_EQ(f.rule_index(), 0);
      EXPECT_EQ(f.direction(), "ingress");
      EXPECT_FALSE(f.cni_dependent());
    }
  }
  EXPECT_TRUE(hbone);
}

TEST_F(PolicyServiceTest, PodsUnknownToTheSnapshotAreCheckedWithTheirLabels) {
  v1::ReplacePolicySnapshotResponse r;
  ASSERT_TRUE(Replace({ReadFile(kCluster)}, &r).ok());
  v1::Pod p;
  p.set_uid("new");
  p.set_namespace_("shop");
  p.set_name("backend-new");
  (*p.mutable_labels())["app.kubernetes.io/name"] = "backend";
  p.add_ips("10.244.3.3");
  p.add_probe_ports(9001);
  v1::CheckResponse resp;
  ASSERT_TRUE(Check(p, &resp).ok());
  bool probe = false;
  for (const v1::Finding& f : resp.findings()) {
    if (f.kind() == v1::FINDING_KIND_PROBE_INGRESS) {
      probe = true;
      EXPECT_TRUE(f.cni_dependent());
      EXPECT_EQ(f.policy_name(), "backend");
      EXPECT_EQ(f.affected_peers(0), "169.254.7.127/32");
    }
  }
  EXPECT_TRUE(probe);
  // The same pod without the labels the policies select is compatible.
  p.mutable_labels()->clear();
  v1::CheckResponse resp2;
  ASSERT_TRUE(Check(p, &resp2).ok());
  EXPECT_TRUE(resp2.compatible());
}

TEST_F(PolicyServiceTest, InvalidPodsAreInvalidArgument) {
  v1::Pod p = Frontend();
  p.add_ips("not-an-ip");
  v1::CheckResponse resp;
  EXPECT_EQ(Check(p, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::CheckRequest empty;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Check(&ctx, empty, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(PolicyServiceTest, TheGateSeesTheSameSnapshotAndTheEnrolledSet) {
  const std::string client_egress = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app.kubernetes.io/name: frontend}}}]
    ports: [{port: 8080}]
)";
  v1::ReplacePolicySnapshotResponse r;
  ASSERT_TRUE(Replace({ReadFile(kCluster), client_egress}, &r).ok());
  EXPECT_TRUE(gate_.has_snapshot());
  v1::Pod client;
  client.set_uid("client");
  client.set_namespace_("shop");
  client.set_name("client");
  (*client.mutable_labels())["app"] = "client";
  client.add_ips("10.244.3.9");
  auto egress_findings = [&] {
    int n = 0;
    absl::StatusOr<std::vector<Finding>> findings = gate_.Check(*agent::PodFromWire(client));
    EXPECT_TRUE(findings.ok()) << findings.status();
    for (const Finding& f : findings.value_or(std::vector<Finding>{})) {
      if (f.kind == FindingKind::kHboneEgress) {
        ++n;
        EXPECT_EQ(f.policy_name, "client-egress");
        EXPECT_EQ(f.affected_peers.at(0), "shop/frontend-7d9f8b-abcde");
      }
    }
    return n;
  };
  EXPECT_EQ(egress_findings(), 0);  // frontend is not in the mesh: plaintext 8080 still works
  gate_.AddEnrolled(*agent::PodFromWire(Frontend()));
  EXPECT_EQ(egress_findings(), 1);  // client -> frontend becomes HBONE to 15008
  gate_.RemoveEnrolled("uid-frontend");
  EXPECT_EQ(egress_findings(), 0);
  gate_.SetEnrolled({*agent::PodFromWire(Frontend())});
  EXPECT_EQ(egress_findings(), 1);
  gate_.SetEnrolled({});
  EXPECT_EQ(egress_findings(), 0);
}

TEST_F(PolicyServiceTest, ConcurrentChecksAndReplacements) {
  const std::string cluster = ReadFile(kCluster);
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) {
      v1::ReplacePolicySnapshotResponse r;
      if (!Replace({cluster}, &r).ok()) {
        ++failures;
      }
    }
  });
  for (int i = 0; i < 50; ++i) {
    v1::CheckResponse resp;
    if (!Check(Frontend(), &resp).ok()) {
      ++failures;
    }
  }
  writer.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace probesnat::policy
