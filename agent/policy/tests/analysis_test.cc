#include "agent/policy/analysis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"

#include "agent/policy/manifest_loader.h"
#include "agent/policy/testing/apply_fixes.h"

namespace probesnat::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const char* kApp = R"(
{kind: Pod, apiVersion: v1, metadata: {name: my-app, namespace: shop, labels: {app.kubernetes.io/name: my-app}},
 spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}], readinessProbe: {httpGet: {port: http}}}]},
 status: {podIPs: [{ip: 10.0.0.1}]}}
---
{kind: Pod, apiVersion: v1, metadata: {name: client, namespace: shop, labels: {app: client}},
 status: {podIPs: [{ip: 10.0.0.2}, {ip: "fd00::2"}]}}
---
{kind: Pod, apiVersion: v1, metadata: {name: dual, namespace: shop, labels: {app: dual}},
 status: {podIPs: [{ip: 10.0.0.3}, {ip: "fd00::3"}]}}
)";

class AnalysisTest : public ::testing::Test {
 protected:
  void Load(const std::string& policies) {
    ManifestLoader l;
    ASSERT_TRUE(l.AddText(std::string(kApp) + "\n---\n" + policies, "test").ok());
    for (const LoadProblem& p : l.problems()) {
      ADD_FAILURE() << p.ToString();
    }
    ev_ = std::make_unique<Evaluator>(l.TakeCluster());
  }
  int Pod(const std::string& name) { return *ev_->FindPod("shop", name); }
  Report Check(const std::vector<std::string>& subjects,
               const std::vector<std::string>& enrolled = {}) {
    std::vector<int> s, e;
    for (const auto& n : subjects) {
      s.push_back(Pod(n));
    }
    for (const auto& n : enrolled) {
      e.push_back(Pod(n));
    }
    return Analyze(*ev_, s, e, opts_);
  }
  // The fixes must clear the findings.
  void ExpectFixesClear(const Report& r, const std::vector<std::string>& subjects,
                        const std::vector<std::string>& enrolled = {}) {
    absl::StatusOr<Cluster> fixed = testing::ApplyFixes(ev_->cluster(), r);
    ASSERT_TRUE(fixed.ok()) << fixed.status();
    ev_ = std::make_unique<Evaluator>(*fixed);
    Report again = Check(subjects, enrolled);
    EXPECT_TRUE(again.findings.empty()) << again.findings[0].message;
    EXPECT_TRUE(again.compatible());
  }
  std::unique_ptr<Evaluator> ev_;
  AnalysisOptions opts_;
};

TEST_F(AnalysisTest, NoPoliciesNoFindings) {
  Load("");
  Report r = Check({"my-app", "client"});
  EXPECT_TRUE(r.findings.empty());
  EXPECT_TRUE(r.compatible());
}

TEST_F(AnalysisTest, PortOnlyRuleBlocksHboneFromEveryone) {
  // The reference page's first example: ingress only on one port, from anywhere.
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: my-app, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}, ingress: [{ports: [{port: 8080, protocol: TCP}]}]}}
)");
  opts_.extra_probe_ports = {};
  Report r = Check({"my-app"});
  ASSERT_EQ(r.findings.size(), 1u);  // HBONE only: the probe port 8080 is open to everyone
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.kind, FindingKind::kHboneIngress);
  EXPECT_EQ(f.severity, Severity::kError);
  EXPECT_EQ(f.rule_index, 0);
  EXPECT_EQ(f.direction, Direction::kIngress);
  EXPECT_EQ(f.policy_name, "my-app");
  EXPECT_FALSE(f.cni_dependent);
  EXPECT_THAT(f.affected_peers, UnorderedElementsAre("shop/client", "shop/dual", "0.0.0.0/0"));
  EXPECT_THAT(f.message, HasSubstr("15008"));
  EXPECT_THAT(f.fix_yaml, HasSubstr("port: 15008"));
  EXPECT_THAT(f.fix_yaml, HasSubstr("apiVersion: networking.k8s.io/v1"));
  EXPECT_THAT(f.fix_yaml, HasSubstr("namespace: \"shop\""));
  ExpectFixesClear(r, {"my-app"});
}

TEST_F(AnalysisTest, DenyAllBlocksProbesOnlyAndTheFixAllowsTheProbeAddress) {
  // The reference page's second example.
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny-ingress, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}, policyTypes: [Ingress]}}
)");
  Report r = Check({"my-app"});
  ASSERT_EQ(r.findings.size(), 1u);
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.kind, FindingKind::kProbeIngress);
  EXPECT_EQ(f.severity, Severity::kError);
  EXPECT_TRUE(f.cni_dependent);
  EXPECT_EQ(f.rule_index, -1);
  EXPECT_THAT(f.affected_peers, ElementsAre("169.254.7.127/32"));
  EXPECT_THAT(f.message, HasSubstr("Some CNIs exempt node traffic"));
  EXPECT_THAT(f.fix_yaml, HasSubstr("cidr: 169.254.7.127/32"));
  EXPECT_THAT(f.fix_yaml, HasSubstr("port: 8080"));            // the readiness probe's named port
  EXPECT_THAT(f.fix_yaml, ::testing::Not(HasSubstr("fd16")));  // IPv4-only pod
  EXPECT_FALSE(r.compatible());
  ExpectFixesClear(r, {"my-app"});
}

TEST_F(AnalysisTest, DualStackPodsNeedBothProbeAddresses) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: shop},
 spec: {podSelector: {}, policyTypes: [Ingress]}}
)");
  opts_.extra_probe_ports = {9000};
  Report r = Check({"dual"});
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_THAT(r.findings[0].affected_peers, ElementsAre("169.254.7.127/32"));
  EXPECT_THAT(r.findings[1].affected_peers,
              ElementsAre("fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128"));
  EXPECT_EQ(r.findings[0].fix_yaml, r.findings[1].fix_yaml);  // one corrected policy
  EXPECT_THAT(r.findings[0].fix_yaml, HasSubstr("fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128"));
  ASSERT_EQ(r.fixes.size(), 1u);
  ExpectFixesClear(r, {"dual"});
}

TEST_F(AnalysisTest, ProbeAlreadyAllowedOrNotIsolatedGivesNothing) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}, ingress: [{from: [{ipBlock: {cidr: 169.254.0.0/16}}], ports: [{port: http}]}]}}
)");
  Report r = Check({"my-app"});
  EXPECT_TRUE(r.findings.empty()) << r.findings[0].message;
  opts_.extra_probe_ports = {15021};
  r = Check({"my-app"});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].kind, FindingKind::kProbeIngress);
  EXPECT_THAT(r.findings[0].message, HasSubstr("15021"));
}

TEST_F(AnalysisTest, PeerRuleWithoutTunnelPortIsAnHboneFinding) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}},
        ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: http}]},
                  {from: [{ipBlock: {cidr: 169.254.7.127/32}}], ports: [{port: 8080}]}]}}
)");
  Report r = Check({"my-app"});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].rule_index, 0);
  EXPECT_THAT(r.findings[0].affected_peers, ElementsAre("shop/client"));
  ExpectFixesClear(r, {"my-app"});
}

TEST_F(AnalysisTest, NoHboneFindingWhenTheTunnelPortIsAlreadyAllowed) {
  for (const char* ports : {"[]", "[{port: 8080}, {port: 15008}]", "[{port: 8000, endPort: 16000}]",
                            "[{protocol: TCP}]"}) {
    Load(absl::StrCat(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: shop},
 spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}], ports: )",
                      ports, "}]}}"));
    Report r = Check({"my-app", "client"});
    for (const Finding& f : r.findings) {
      EXPECT_NE(f.kind, FindingKind::kHboneIngress) << ports;
    }
  }
}

TEST_F(AnalysisTest, PeersThatCannotReachTodayAreNotAffected) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}, ingress: [{from: [{podSelector: {}}], ports: [{port: 8080}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: client-no-egress, namespace: shop},
 spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress]}}
)");
  opts_.extra_probe_ports = {};
  Report r = Check({"my-app"});
  ASSERT_EQ(r.findings.size(), 2u);  // HBONE for shop/dual, probe on 8080 (named http)
  EXPECT_THAT(r.findings[0].affected_peers, ElementsAre("shop/dual"));
}

TEST_F(AnalysisTest, EgressIsolatedPeersNeedTheTunnelPortTowardsTheSubject) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: client-egress, namespace: shop},
 spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress],
        egress: [{to: [{podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}}], ports: [{port: 8080}]},
                 {ports: [{port: 53, protocol: UDP}]}]}}
)");
  Report r = Check({"my-app"});
  ASSERT_EQ(r.findings.size(), 1u);
  const Finding& f = r.findings[0];
  EXPECT_EQ(f.kind, FindingKind::kHboneEgress);
  EXPECT_EQ(f.direction, Direction::kEgress);
  EXPECT_EQ(f.policy_name, "client-egress");
  EXPECT_EQ(f.rule_index, 0);
  EXPECT_EQ(f.subject, "shop/my-app");
  EXPECT_THAT(f.affected_peers, ElementsAre("shop/client"));
  ExpectFixesClear(r, {"my-app"});
}

TEST_F(AnalysisTest, OwnEgressMattersOnlyTowardsEnrolledPods) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: app-egress, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}, policyTypes: [Egress],
        egress: [{to: [{podSelector: {matchLabels: {app: dual}}}], ports: [{port: 443}]}]}}
)");
  EXPECT_TRUE(Check({"my-app"}).findings.empty());
  Report r = Check({"my-app"}, {"dual"});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].kind, FindingKind::kHboneEgress);
  EXPECT_EQ(r.findings[0].subject, "shop/my-app");
  EXPECT_THAT(r.findings[0].affected_peers, ElementsAre("shop/dual"));
  ExpectFixesClear(r, {"my-app"}, {"dual"});
}

TEST_F(AnalysisTest, EnrolledDestinationsIngressIsCheckedForTheNewPeer) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: dual-in, namespace: shop},
 spec: {podSelector: {matchLabels: {app: dual}}, ingress: [{from: [{podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}}], ports: [{port: 443}]}]}}
)");
  Report r = Check({"my-app"}, {"dual"});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].kind, FindingKind::kHboneIngress);
  EXPECT_EQ(r.findings[0].policy_name, "dual-in");
  EXPECT_EQ(r.findings[0].rule_index, 0);
  // The finding is the subject's; the enrolled destinations its tunnels would be dropped by are
  // the affected peers (one finding per rule, however many destinations it selects).
  EXPECT_EQ(r.findings[0].subject, "shop/my-app");
  EXPECT_THAT(r.findings[0].affected_peers, ElementsAre("shop/dual"));
  EXPECT_THAT(r.findings[0].message, HasSubstr("lets shop/my-app reach 1 enrolled pod(s)"));
  ExpectFixesClear(r, {"my-app"}, {"dual"});
}

TEST_F(AnalysisTest, EnrolledDestinationsOfOneRuleAreOneFinding) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: in, namespace: shop},
 spec: {podSelector: {matchExpressions: [{key: app, operator: In, values: [dual, client]}]},
        ingress: [{from: [{podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}}], ports: [{port: 443}]}]}}
)");
  Report r = Check({"my-app"}, {"dual", "client"});
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].subject, "shop/my-app");
  EXPECT_THAT(r.findings[0].affected_peers, ElementsAre("shop/client", "shop/dual"));
  ExpectFixesClear(r, {"my-app"}, {"dual", "client"});
}

TEST_F(AnalysisTest, OwnEgressAndEgressTowardsTheSubjectStaySeparateFindings) {
  // One policy selects both the subject and a peer: the peer's egress towards the subject and the
  // subject's egress towards an enrolled pod are two findings, each with its own peers.
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: out, namespace: shop},
 spec: {podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 8080}]}]}}
)");
  opts_.extra_probe_ports = {};
  Report r = Check({"my-app"}, {"dual"});
  std::vector<std::vector<std::string>> peers;
  for (const Finding& f : r.findings) {
    ASSERT_EQ(f.kind, FindingKind::kHboneEgress);
    EXPECT_EQ(f.subject, "shop/my-app");
    peers.push_back(f.affected_peers);
  }
  EXPECT_THAT(peers, UnorderedElementsAre(ElementsAre("shop/client", "shop/dual"),
                                          ElementsAre("shop/dual")));
  ExpectFixesClear(r, {"my-app"}, {"dual"});
}

TEST_F(AnalysisTest, OverlappingPortRangesCountAsReachable) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: app-in, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}},
        ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 8000, endPort: 9000}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: client-out, namespace: shop},
 spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress],
        egress: [{ports: [{port: 8500}]}]}}
)");
  opts_.extra_probe_ports = {};
  Report r = Check({"my-app"});
  // Ingress: client reaches my-app only on 8500, inside the rule's range. Egress: client's rule
  // (any destination, 8500) reaches my-app today and lacks 15008. Probe: 8080 is in 8000-9000 but
  // only for app=client, so the probe address is blocked too.
  std::set<FindingKind> kinds;
  for (const Finding& f : r.findings) {
    kinds.insert(f.kind);
  }
  EXPECT_TRUE(kinds.count(FindingKind::kHboneIngress));
  EXPECT_TRUE(kinds.count(FindingKind::kHboneEgress));
  EXPECT_TRUE(kinds.count(FindingKind::kProbeIngress));
  ExpectFixesClear(r, {"my-app"});
}

TEST_F(AnalysisTest, ConfigurableAddressesAndPort) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: shop},
 spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}], ports: [{port: 15008}]}]}}
)");
  opts_.tunnel_port = 15009;
  opts_.probe_v4 = *IpAddress::Parse("169.254.9.9");
  Report r = Check({"my-app"});
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_THAT(r.findings[0].fix_yaml, HasSubstr("port: 15009"));
  EXPECT_THAT(r.findings[0].fix_yaml, HasSubstr("169.254.9.9/32"));
  ExpectFixesClear(r, {"my-app"});
}

TEST_F(AnalysisTest, PortRangesAreDescribedAsRangesAndKeptInTheFix) {
  // Ingress: the rule's own ports, as written. Egress: where client's range meets my-app's.
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: app-in, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}},
        ingress: [{from: [{podSelector: {matchLabels: {app: client}}}],
                   ports: [{port: 8500, endPort: 9000}, {port: 7000}, {port: http}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: client-out, namespace: shop},
 spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress],
        egress: [{ports: [{port: 8000, endPort: 8600}]}]}}
)");
  opts_.extra_probe_ports = {};
  Report r = Check({"my-app"});
  std::map<FindingKind, const Finding*> by_kind;
  for (const Finding& f : r.findings) {
    by_kind[f.kind] = &f;
  }
  ASSERT_TRUE(by_kind.count(FindingKind::kHboneIngress));
  ASSERT_TRUE(by_kind.count(FindingKind::kHboneEgress));
  const Finding& in = *by_kind[FindingKind::kHboneIngress];
  EXPECT_THAT(in.message, HasSubstr("on ports 7000/TCP, 8080/TCP, 8500-9000/TCP but not on port "
                                    "15008/TCP"));
  EXPECT_THAT(in.fix_yaml, HasSubstr("- port: 8500\n          endPort: 9000\n"));
  const Finding& out = *by_kind[FindingKind::kHboneEgress];
  // 8080 (my-app's named port http) and 8500-8600 are where 8000-8600 meets my-app's ports.
  EXPECT_THAT(out.message, HasSubstr("on ports 8080/TCP, 8500-8600/TCP but not on port 15008/TCP"));
  EXPECT_THAT(out.fix_yaml, HasSubstr("- port: 8000\n          endPort: 8600\n"));
  ExpectFixesClear(r, {"my-app"});
}

TEST_F(AnalysisTest, FixKeepsLabelsAndAnnotationsButNotLastAppliedConfiguration) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy,
 metadata: {name: p, namespace: shop, uid: abc, resourceVersion: "7",
            labels: {app.kubernetes.io/managed-by: Helm, tier: "on"},
            annotations: {meta.helm.sh/release-name: shop, "note": "two\nlines",
                          kubectl.kubernetes.io/last-applied-configuration: "{\"spec\":{}}"}},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}}, ingress: [{ports: [{port: 8080}]}]}}
)");
  Report r = Check({"my-app"});
  ASSERT_EQ(r.fixes.size(), 1u);
  const std::string& yaml = r.fixes[0].yaml;
  EXPECT_THAT(yaml, HasSubstr("  labels:\n    \"app.kubernetes.io/managed-by\": \"Helm\"\n"
                              "    \"tier\": \"on\"\n"));
  EXPECT_THAT(yaml, HasSubstr("  annotations:\n    \"meta.helm.sh/release-name\": \"shop\"\n"
                              "    \"note\": \"two\\nlines\"\n"));
  EXPECT_THAT(yaml, ::testing::Not(HasSubstr("last-applied")));
  EXPECT_THAT(yaml, ::testing::Not(HasSubstr("resourceVersion")));
  EXPECT_THAT(yaml, ::testing::Not(HasSubstr("uid")));
  // Read back, the fix is the same policy with the same metadata.
  absl::StatusOr<Cluster> fixed = testing::ApplyFixes(ev_->cluster(), r);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  const NetworkPolicy& np = fixed->policies[0];
  EXPECT_EQ(np.labels.at("tier"), "on");
  EXPECT_EQ(np.annotations.at("note"), "two\nlines");
  EXPECT_EQ(np.annotations.count("kubectl.kubernetes.io/last-applied-configuration"), 0u);
}

TEST_F(AnalysisTest, SinglePortsAreNamedOneByOne) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}},
        ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 8080}]}]}}
)");
  opts_.extra_probe_ports = {};
  Report r = Check({"my-app"});
  ASSERT_FALSE(r.findings.empty());
  EXPECT_THAT(r.findings[0].message, HasSubstr("reach shop/my-app on port 8080/TCP but not on"));
}

// Who sends HBONE: only a peer in the mesh. A peer outside it keeps reaching the subject in
// plaintext, so the message must not say its traffic is dropped now.
class HboneWordingTest : public AnalysisTest {
 protected:
  void SetUp() override {
    Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: app-in, namespace: shop},
 spec: {podSelector: {matchLabels: {app.kubernetes.io/name: my-app}},
        ingress: [{from: [{podSelector: {matchExpressions: [{key: app, operator: In, values: [client, dual]}]}},
                          {ipBlock: {cidr: 192.168.0.0/16}}], ports: [{port: 8080}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: client-out, namespace: shop},
 spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress],
        egress: [{ports: [{port: 8080}]}]}}
)");
    opts_.extra_probe_ports = {};
  }
  const Finding& Of(const Report& r, FindingKind kind) {
    for (const Finding& f : r.findings) {
      if (f.kind == kind) {
        return f;
      }
    }
    ADD_FAILURE() << "no finding of kind " << FindingKindName(kind);
    static Finding none;
    return none;
  }
};

TEST_F(HboneWordingTest, PeersOutsideTheMeshWouldBeBlockedOnceTheyJoin) {
  Report r = Check({"my-app"});
  const Finding& in = Of(r, FindingKind::kHboneIngress);
  EXPECT_THAT(in.affected_peers, ElementsAre("shop/client", "shop/dual", "192.168.0.0/16"));
  EXPECT_THAT(in.message,
              HasSubstr("shop/client, shop/dual are not in the mesh (yet): their plaintext "
                        "connections keep working, but once they join the mesh, their HBONE "
                        "traffic to port 15008/TCP would be blocked."));
  EXPECT_THAT(in.message,
              HasSubstr("Other sources in 192.168.0.0/16: their plaintext connections keep "
                        "working, but once one of them joins the mesh, its HBONE traffic to port "
                        "15008/TCP would be blocked."));
  EXPECT_THAT(in.message, ::testing::Not(HasSubstr("In the mesh,")));
  EXPECT_THAT(in.message, ::testing::Not(HasSubstr("drops them")));
  const Finding& out = Of(r, FindingKind::kHboneEgress);
  EXPECT_THAT(out.message,
              HasSubstr("shop/client is not in the mesh (yet): its plaintext connections keep "
                        "working, but once it joins the mesh, its HBONE traffic to port "
                        "15008/TCP of shop/my-app would be blocked."));
  EXPECT_THAT(out.message, ::testing::Not(HasSubstr("In the mesh,")));
}

TEST_F(HboneWordingTest, PeersInTheMeshAreDroppedNow) {
  Report r = Check({"my-app"}, {"client"});
  const Finding& in = Of(r, FindingKind::kHboneIngress);
  EXPECT_THAT(in.message, HasSubstr("In the mesh, shop/client sends its connections as HBONE "
                                    "tunnels to port 15008/TCP from the same source IPs, and this "
                                    "policy drops them."));
  EXPECT_THAT(in.message, HasSubstr("shop/dual is not in the mesh (yet)"));  // mixed
  EXPECT_THAT(in.message, ::testing::Not(HasSubstr("shop/client is not in the mesh")));
  const Finding& out = Of(r, FindingKind::kHboneEgress);
  EXPECT_THAT(out.message, HasSubstr("In the mesh, shop/client sends its connections as HBONE "
                                     "tunnels to port 15008/TCP of shop/my-app"));
  EXPECT_THAT(out.message, ::testing::Not(HasSubstr("not in the mesh")));
}

TEST_F(HboneWordingTest, OtherSubjectsCountAsInTheMesh) {
  Report r = Check({"my-app", "client", "dual"});
  for (const Finding& f : r.findings) {
    if (f.subject == "shop/my-app" && f.kind != FindingKind::kProbeIngress) {
      EXPECT_THAT(f.message, ::testing::Not(HasSubstr("shop/client is not in the mesh")));
      EXPECT_THAT(f.message, ::testing::Not(HasSubstr("shop/dual is not in the mesh")));
      EXPECT_THAT(f.message, HasSubstr("In the mesh, "));
    }
  }
}

TEST_F(HboneWordingTest, TheSubjectAsTheSourceSendsHboneOnceEnrolled) {
  // client is the subject; my-app (enrolled) has the ingress rule, client's own egress the other.
  Report r = Check({"client"}, {"my-app"});
  const Finding& in = Of(r, FindingKind::kHboneIngress);
  EXPECT_THAT(in.message, HasSubstr("lets shop/client reach 1 enrolled pod(s) on port 8080/TCP"));
  EXPECT_THAT(in.message, HasSubstr("Once shop/client is in the mesh, its connections to them "
                                    "travel as HBONE tunnels to port 15008/TCP"));
  const Finding& out = Of(r, FindingKind::kHboneEgress);
  EXPECT_THAT(out.message, HasSubstr("Once shop/client is in the mesh"));
  ExpectFixesClear(r, {"client"}, {"my-app"});
}

TEST_F(AnalysisTest, HostNetworkSubjectsAreNotedNotAnalysed) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddText("{kind: Pod, apiVersion: v1, metadata: {name: hn, namespace: shop}, spec: "
                        "{hostNetwork: true}}\n---\n"
                        "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: "
                        "p, namespace: shop}, spec: {podSelector: {}}}",
                        "t")
                  .ok());
  Evaluator ev(l.TakeCluster());
  Report r = Analyze(ev, {0}, {}, AnalysisOptions());
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_THAT(r.notes[0], HasSubstr("host network"));
}

}  // namespace
}  // namespace probesnat::policy
