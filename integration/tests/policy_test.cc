// probesnatd's NetworkPolicy check, end to end: a snapshot sent over the Policy service decides
// whether Enroll (in enforce mode) may touch the kernel, and the fix it proposes makes the pod
// enrollable.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "integration/harness/http_get.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

// Namespace "default" with pod-a and pod-b as the topology has them.
std::string ClusterObjects(const std::string& a_v4, const std::string& a_v6,
                           const std::string& b_v4, const std::string& b_v6) {
  return absl::StrCat(
      "apiVersion: v1\n"
      "kind: List\n"
      "items:\n"
      "- apiVersion: v1\n"
      "  kind: Namespace\n"
      "  metadata: {name: default, labels: {kubernetes.io/metadata.name: default}}\n"
      "- apiVersion: v1\n"
      "  kind: Pod\n"
      "  metadata: {name: pod-a, namespace: default, labels: {app: pod-a}}\n"
      "  spec: {containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}\n"
      "  status: {phase: Running, podIP: ",
      a_v4, ", podIPs: [{ip: ", a_v4, "}, {ip: \"", a_v6,
      "\"}]}\n"
      "- apiVersion: v1\n"
      "  kind: Pod\n"
      "  metadata: {name: pod-b, namespace: default, labels: {app: pod-b}}\n"
      "  spec: {containers: [{name: app, ports: [{containerPort: 9090}]}]}\n"
      "  status: {phase: Running, podIP: ",
      b_v4, ", podIPs: [{ip: ", b_v4, "}, {ip: \"", b_v6, "\"}]}\n");
}

// pod-a admits pod-b on 8080 only: HBONE (15008) from pod-b and the probes are not allowed.
constexpr char kRestrictivePolicy[] =
    "apiVersion: networking.k8s.io/v1\n"
    "kind: NetworkPolicy\n"
    "metadata: {name: pod-a-from-b, namespace: default}\n"
    "spec:\n"
    "  podSelector: {matchLabels: {app: pod-a}}\n"
    "  policyTypes: [Ingress]\n"
    "  ingress:\n"
    "  - from: [{podSelector: {matchLabels: {app: pod-b}}}]\n"
    "    ports: [{port: 8080, protocol: TCP}]\n";

class PolicyTest : public AgentTest {
 protected:
  probesnat::v1::ReplacePolicySnapshotResponse Replace(const std::vector<std::string>& manifests) {
    auto stub = probesnat::v1::Policy::NewStub(daemon_->channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    probesnat::v1::ReplacePolicySnapshotRequest req;
    for (const std::string& m : manifests) {
      req.add_manifests(m);
    }
    probesnat::v1::ReplacePolicySnapshotResponse resp;
    grpc::Status st = stub->ReplaceSnapshot(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << Describe(st);
    EXPECT_EQ(resp.problems_size(), 0) << resp.DebugString();
    return resp;
  }

  probesnat::v1::CheckResponse Check(const probesnat::v1::Pod& pod) {
    auto stub = probesnat::v1::Policy::NewStub(daemon_->channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    probesnat::v1::CheckRequest req;
    *req.mutable_pod() = pod;
    probesnat::v1::CheckResponse resp;
    grpc::Status st = stub->Check(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << Describe(st);
    return resp;
  }

  grpc::Status EnrollWithMode(const probesnat::v1::Pod& pod, probesnat::v1::PolicyMode mode,
                              probesnat::v1::EnrollResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    probesnat::v1::EnrollRequest req;
    *req.mutable_pod() = pod;
    req.set_policy_mode(mode);
    return stub_->Enroll(&ctx, req, resp);
  }

  std::string Cluster() { return ClusterObjects(a().v4, a().v6, b().v4, b().v6); }

  probesnat::v1::PolicySnapshotStatus SnapshotStatus() {
    auto stub = probesnat::v1::Policy::NewStub(daemon_->channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    probesnat::v1::PolicySnapshotStatus resp;
    grpc::Status st =
        stub->GetSnapshotStatus(&ctx, probesnat::v1::GetPolicySnapshotStatusRequest(), &resp);
    EXPECT_TRUE(st.ok()) << Describe(st);
    return resp;
  }

  void ExpectNoKernelStateForA() {
    absl::StatusOr<bool> table = HasProbesnatTable(a().name());
    ASSERT_TRUE(table.ok());
    EXPECT_FALSE(*table);
    std::set<std::string> members = ProbesnatSetElements(topo_->node().name());
    EXPECT_FALSE(members.count(a().v4) || members.count(a().v6));
  }
};

// Fail closed (issue 14): in enforce mode nothing is enrolled unchecked. Before the first snapshot
// every Enroll is FAILED_PRECONDITION "no policy snapshot loaded" and the kernel is left alone;
// Policy.GetSnapshotStatus, /readyz and /metrics say that no snapshot is loaded and what that
// means, and once one is loaded, since when and from whom.
TEST_F(PolicyTest, EnforceWithoutASnapshotRefusesUntilOneIsLoadedAndStatusSaysSo) {
  constexpr uint16_t kMetricsPort = 9466;
  StartDaemon(
      {"--policy-mode", "enforce", "--metrics-listen", absl::StrCat("127.0.0.1:", kMetricsPort)});
  auto http = [&](const std::string& path) {
    absl::StatusOr<HttpReply> r = HttpGet(fd_node(), Endpoint{"127.0.0.1", kMetricsPort}, path);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpReply{};
  };
  EXPECT_TRUE(absl::StrContains(daemon_->Log(),
                                "policy snapshot: none loaded; policy mode enforce "
                                "refuses every Enroll"))
      << daemon_->Log();

  probesnat::v1::PolicySnapshotStatus none = SnapshotStatus();
  EXPECT_FALSE(none.loaded());
  EXPECT_EQ(none.policy_mode(), probesnat::v1::POLICY_MODE_ENFORCE);
  EXPECT_TRUE(none.enroll_refused());
  HttpReply ready = http("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_TRUE(absl::StrContains(ready.body, "policy snapshot: none loaded; policy mode enforce"))
      << ready.body;
  EXPECT_TRUE(absl::StrContains(http("/metrics").body, "probesnat_policy_snapshot_loaded 0\n"));

  probesnat::v1::EnrollResponse resp;
  grpc::Status st = EnrollWithMode(PodA(), probesnat::v1::POLICY_MODE_UNSPECIFIED, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(st);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "no policy snapshot loaded")) << Describe(st);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "Policy.ReplaceSnapshot")) << Describe(st);
  ExpectNoKernelStateForA();

  const absl::Time before_load = absl::Now();
  probesnat::v1::ReplacePolicySnapshotResponse loaded = Replace({Cluster()});
  probesnat::v1::PolicySnapshotStatus status = SnapshotStatus();
  EXPECT_TRUE(status.loaded());
  EXPECT_FALSE(status.enroll_refused());
  EXPECT_EQ(status.namespaces(), loaded.namespaces());
  EXPECT_EQ(status.pods(), 2u);
  EXPECT_EQ(status.policies(), 0u);
  EXPECT_TRUE(absl::StartsWith(status.source(), "Policy.ReplaceSnapshot")) << status.source();
  EXPECT_GE(status.loaded_at().seconds(), absl::ToUnixSeconds(before_load) - 1);
  EXPECT_GE(status.age_seconds(), 0);
  EXPECT_LT(status.age_seconds(), 10);
  ready = http("/readyz");
  EXPECT_TRUE(absl::StrContains(ready.body, "policy snapshot: loaded ")) << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "from Policy.ReplaceSnapshot")) << ready.body;
  const std::string metrics = http("/metrics").body;
  EXPECT_TRUE(absl::StrContains(metrics, "probesnat_policy_snapshot_loaded 1\n"));
  EXPECT_TRUE(absl::StrContains(metrics, "probesnat_policy_snapshot_age_seconds "));

  MustEnroll(PodA());
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
}

// Warn mode without a snapshot enrolls, and says in the pod's status that nothing was checked.
TEST_F(PolicyTest, WarnWithoutASnapshotEnrollsWithANotCheckedFinding) {
  probesnat::v1::EnrollResponse resp;
  grpc::Status st = EnrollWithMode(PodA(), probesnat::v1::POLICY_MODE_UNSPECIFIED, &resp);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(resp.status().phase(), probesnat::v1::POD_PHASE_APPLIED);
  ASSERT_EQ(resp.status().findings_size(), 1) << resp.DebugString();
  EXPECT_EQ(resp.status().findings(0).kind(), probesnat::v1::FINDING_KIND_NOT_CHECKED);
  EXPECT_EQ(resp.status().findings(0).severity(), probesnat::v1::SEVERITY_WARNING);
  EXPECT_TRUE(absl::StrContains(resp.status().findings(0).message(), "no policy snapshot loaded"));
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
}

TEST_F(PolicyTest, EnforceRefusesAnIncompatiblePodAndLeavesTheKernelAlone) {
  probesnat::v1::ReplacePolicySnapshotResponse snap = Replace({Cluster(), kRestrictivePolicy});
  EXPECT_EQ(snap.pods(), 2u);
  EXPECT_EQ(snap.policies(), 1u);

  probesnat::v1::CheckResponse check = Check(PodA());
  EXPECT_FALSE(check.compatible());
  bool hbone = false;
  for (const probesnat::v1::Finding& f : check.findings()) {
    if (f.kind() == probesnat::v1::FINDING_KIND_HBONE_INGRESS) {
      hbone = true;
      EXPECT_EQ(f.policy_name(), "pod-a-from-b");
      EXPECT_TRUE(absl::StrContains(f.fix_yaml(), "15008")) << f.fix_yaml();
    }
  }
  EXPECT_TRUE(hbone) << check.DebugString();

  probesnat::v1::EnrollResponse resp;
  grpc::Status st = EnrollWithMode(PodA(), probesnat::v1::POLICY_MODE_ENFORCE, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(st);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "pod-a-from-b")) << st.error_message();
  ExpectNoKernelStateForA();
}

TEST_F(PolicyTest, WarnEnrollsAndReportsFindings) {
  Replace({Cluster(), kRestrictivePolicy});
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  probesnat::v1::EnrollResponse resp;
  grpc::Status st = EnrollWithMode(PodA(), probesnat::v1::POLICY_MODE_WARN, &resp);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(resp.status().phase(), probesnat::v1::POD_PHASE_APPLIED);
  EXPECT_GT(resp.status().findings_size(), 0) << resp.DebugString();
  std::optional<Accepted> got = ConnectAndAccept(fd_node(), a().v4, kAppPort, *app);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, kProbeV4);
}

TEST_F(PolicyTest, TheProposedFixMakesThePodEnrollable) {
  Replace({Cluster(), kRestrictivePolicy});
  probesnat::v1::CheckResponse check = Check(PodA());
  ASSERT_FALSE(check.compatible());
  // Apply every corrected policy the findings carry (later fixes of the same policy replace earlier
  // ones in the snapshot, as kubectl apply would), until nothing blocking is left.
  std::vector<std::string> manifests = {Cluster()};
  std::map<std::string, std::string> fixed;
  for (int round = 0; round < 3 && !check.compatible(); ++round) {
    for (const probesnat::v1::Finding& f : check.findings()) {
      if (!f.fix_yaml().empty()) {
        fixed[f.policy_namespace() + "/" + f.policy_name()] = f.fix_yaml();
      }
    }
    ASSERT_FALSE(fixed.empty()) << "no finding carries a fix:\n" << check.DebugString();
    std::vector<std::string> m = manifests;
    for (const auto& [name, yaml] : fixed) {
      m.push_back(yaml);
    }
    Replace(m);
    check = Check(PodA());
  }
  EXPECT_TRUE(check.compatible()) << check.DebugString();

  auto app = Listen(fd_a(), kAppPort);
  auto tunnel = Listen(fd_a(), kTunnelPort);
  ASSERT_TRUE(app && tunnel);
  probesnat::v1::EnrollResponse resp;
  grpc::Status st = EnrollWithMode(PodA(), probesnat::v1::POLICY_MODE_ENFORCE, &resp);
  ASSERT_TRUE(st.ok()) << Describe(st);
  std::optional<Accepted> got = ConnectAndAccept(fd_node(), a().v4, kAppPort, *app);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, kProbeV4);
}

}  // namespace
}  // namespace probesnat::integration
