// One test per upstream NetworkPolicy rule the evaluator implements.
#include "agent/policy/evaluator.h"

#include <gtest/gtest.h>

#include "agent/policy/manifest_loader.h"

namespace probesnat::policy {
namespace {

const char* kPods = R"(
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {team: blue}}
---
{kind: Pod, apiVersion: v1, metadata: {name: web, namespace: a, labels: {app: web}},
 spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: q, containerPort: 5000, protocol: UDP}]}]},
 status: {podIPs: [{ip: 10.0.0.1}, {ip: "fd00::1"}], hostIP: 192.168.0.1}}
---
{kind: Pod, apiVersion: v1, metadata: {name: cli, namespace: a, labels: {app: cli}}, spec: {nodeName: n2},
 status: {podIPs: [{ip: 10.0.0.2}, {ip: "fd00::2"}], hostIP: 192.168.0.2}}
---
{kind: Pod, apiVersion: v1, metadata: {name: cli, namespace: b, labels: {app: cli}}, status: {podIP: 10.0.1.2}}
---
{kind: Pod, apiVersion: v1, metadata: {name: other, namespace: b, labels: {app: other}}, status: {podIP: 10.0.1.3}}
---
{kind: Pod, apiVersion: v1, metadata: {name: hn, namespace: b, labels: {app: cli}}, spec: {hostNetwork: true, nodeName: n1},
 status: {podIP: 192.168.0.1, hostIP: 192.168.0.1}}
---
{kind: Pod, apiVersion: v1, metadata: {name: pending, namespace: a, labels: {app: cli}}}
)";

class EvalTest : public ::testing::Test {
 protected:
  void Load(const std::string& policies, EvalOptions opts = {}) {
    ManifestLoader l;
    ASSERT_TRUE(l.AddText(std::string(kPods) + "\n---\n" + policies, "test").ok());
    for (const LoadProblem& p : l.problems()) {
      ADD_FAILURE() << p.ToString();
    }
    ev_ = std::make_unique<Evaluator>(l.TakeCluster(), opts);
  }
  Verdict V(const std::string& from, const std::string& to, int port,
            Protocol proto = Protocol::kTCP) {
    absl::StatusOr<Endpoint> f = ev_->Resolve(from);
    absl::StatusOr<Endpoint> t = ev_->Resolve(to);
    EXPECT_TRUE(f.ok() && t.ok()) << from << " " << to;
    return ev_->Evaluate(*f, *t, port, proto);
  }
  bool Allowed(const std::string& from, const std::string& to, int port,
               Protocol proto = Protocol::kTCP) {
    return V(from, to, port, proto).allowed;
  }
  std::unique_ptr<Evaluator> ev_;
};

const char* kDenyIngressA = R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny, namespace: a},
 spec: {podSelector: {}, policyTypes: [Ingress]}}
)";

TEST_F(EvalTest, NothingIsIsolatedWithoutPolicies) {
  Load("");
  EXPECT_TRUE(Allowed("a/cli", "a/web", 1));
  EXPECT_TRUE(Allowed("8.8.8.8", "a/web", 1, Protocol::kSCTP));
  Verdict v = V("a/cli", "a/web", 80);
  EXPECT_FALSE(v.ingress.isolated);
  EXPECT_FALSE(v.egress.isolated);
}

TEST_F(EvalTest, IsolationIsPerDirection) {
  Load(kDenyIngressA);
  EXPECT_FALSE(Allowed("b/cli", "a/web", 80));
  EXPECT_TRUE(Allowed("a/web", "b/cli", 80));  // egress of a/web is not isolated
}

TEST_F(EvalTest, PoliciesAreAdditive) {
  Load(std::string(kDenyIngressA) + R"(
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p1, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{ports: [{port: 80}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p2, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{ports: [{port: 81}]}]}}
)");
  EXPECT_TRUE(Allowed("b/cli", "a/web", 80));
  EXPECT_TRUE(Allowed("b/cli", "a/web", 81));
  EXPECT_FALSE(Allowed("b/cli", "a/web", 82));
  Verdict v = V("b/cli", "a/web", 81);
  EXPECT_EQ(v.ingress.policies.size(), 3u);
  ASSERT_EQ(v.ingress.allowed_by.size(), 1u);
  EXPECT_EQ(ev_->cluster().policies[v.ingress.allowed_by[0].policy].name, "p2");
  EXPECT_EQ(v.ingress.allowed_by[0].rule, 0);
}

TEST_F(EvalTest, ConnectionNeedsSourceEgressAndDestinationIngress) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: eg, namespace: b},
 spec: {podSelector: {matchLabels: {app: cli}}, policyTypes: [Egress], egress: [{ports: [{port: 443}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: in, namespace: a},
 spec: {podSelector: {}, ingress: [{ports: [{port: 80}]}]}}
)");
  EXPECT_FALSE(Allowed("b/cli", "a/web", 80));   // egress denies
  EXPECT_FALSE(Allowed("b/cli", "a/web", 443));  // ingress denies
  EXPECT_TRUE(Allowed("b/other", "a/web", 80));
  Verdict v = V("b/cli", "a/web", 80);
  EXPECT_FALSE(v.egress.allowed);
  EXPECT_TRUE(v.ingress.allowed);
}

TEST_F(EvalTest, EmptyFromAndPortsListsMeanEverything) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [], ports: []}]}}
)");
  EXPECT_TRUE(Allowed("8.8.8.8", "a/web", 1234, Protocol::kUDP));
  EXPECT_TRUE(Allowed("b/cli", "a/web", 1));
}

TEST_F(EvalTest, EmptyIngressListDeniesEverything) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: []}}
)");
  EXPECT_FALSE(Allowed("a/cli", "a/web", 80));
  EXPECT_TRUE(Allowed("a/web", "a/cli", 80));
}

TEST_F(EvalTest, EgressRulesImplyEgressPolicyType) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: cli}}, egress: [{ports: [{port: 53, protocol: UDP}]}]}}
)");
  EXPECT_FALSE(Allowed("a/cli", "a/web", 8080));
  EXPECT_TRUE(Allowed("a/cli", "1.1.1.1", 53, Protocol::kUDP));
  EXPECT_FALSE(Allowed("a/web", "a/cli", 8080));  // Ingress is implied too
}

TEST_F(EvalTest, SelectorPeersAndVsOr) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: and, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}},
        ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {app: cli}}}], ports: [{port: 1}]},
                  {from: [{namespaceSelector: {matchLabels: {team: blue}}}, {podSelector: {matchLabels: {app: cli}}}], ports: [{port: 2}]}]}}
)");
  EXPECT_TRUE(Allowed("b/cli", "a/web", 1));
  EXPECT_FALSE(Allowed("b/other", "a/web", 1));
  EXPECT_FALSE(Allowed("a/cli", "a/web", 1));
  EXPECT_TRUE(Allowed("b/other", "a/web", 2));
  EXPECT_TRUE(Allowed("a/cli", "a/web", 2));
  EXPECT_FALSE(Allowed("8.8.8.8", "a/web", 2));
}

TEST_F(EvalTest, EmptySelectors) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}], ports: [{port: 1}]},
                                    {from: [{namespaceSelector: {}}], ports: [{port: 2}]}]}}
)");
  EXPECT_TRUE(Allowed("a/cli", "a/web", 1));
  EXPECT_FALSE(Allowed("b/cli", "a/web", 1));
  EXPECT_TRUE(Allowed("b/cli", "a/web", 2));
  EXPECT_FALSE(Allowed("8.8.8.8", "a/web", 2));
}

TEST_F(EvalTest, IpBlockWithExceptMatchesPodIps) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.1.0/24]}}]}]}}
)");
  EXPECT_TRUE(Allowed("a/cli", "a/web", 80));   // 10.0.0.2
  EXPECT_FALSE(Allowed("b/cli", "a/web", 80));  // 10.0.1.2 excepted
  EXPECT_TRUE(Allowed("10.0.200.1", "a/web", 80));
  EXPECT_FALSE(Allowed("10.1.0.1", "a/web", 80));
  EXPECT_FALSE(Allowed("fd00::2", "a/web", 80));  // IPv6 source vs IPv4 block
}

TEST_F(EvalTest, NamedPortsResolveOnTheDestinationWithTheirProtocol) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {}, ingress: [{ports: [{port: http}, {port: q}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: u, namespace: a},
 spec: {podSelector: {}, ingress: [{ports: [{port: q, protocol: UDP}]}]}}
)");
  EXPECT_TRUE(Allowed("b/cli", "a/web", 8080));
  EXPECT_FALSE(Allowed("b/cli", "a/web", 8080, Protocol::kUDP));
  EXPECT_FALSE(Allowed("b/cli", "a/web", 5000));  // q is UDP; {port: q} means TCP
  EXPECT_TRUE(Allowed("b/cli", "a/web", 5000, Protocol::kUDP));
  EXPECT_FALSE(Allowed("b/cli", "a/cli", 8080));  // a/cli has no port named http
}

TEST_F(EvalTest, EndPortIsInclusive) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {}, ingress: [{ports: [{port: 32000, endPort: 32768}]}]}}
)");
  EXPECT_FALSE(Allowed("b/cli", "a/web", 31999));
  EXPECT_TRUE(Allowed("b/cli", "a/web", 32000));
  EXPECT_TRUE(Allowed("b/cli", "a/web", 32768));
  EXPECT_FALSE(Allowed("b/cli", "a/web", 32769));
}

TEST_F(EvalTest, ProtocolDefaultsToTcpAndOtherProtocolRulesStillIsolateTcp) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{ports: [{port: 53}]}, {ports: [{protocol: SCTP}]}]}}
)");
  EXPECT_TRUE(Allowed("b/cli", "a/web", 53));
  EXPECT_FALSE(Allowed("b/cli", "a/web", 53, Protocol::kUDP));
  EXPECT_TRUE(Allowed("b/cli", "a/web", 9, Protocol::kSCTP));
  EXPECT_FALSE(Allowed("b/cli", "a/web", 9));
}

TEST_F(EvalTest, Ipv6BlocksAndQueries) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{ipBlock: {cidr: "fd00::/120", except: ["fd00::2/128"]}}]}]}}
)");
  EXPECT_TRUE(Allowed("fd00::7", "fd00::1", 80));
  EXPECT_FALSE(Allowed("fd00::2", "fd00::1", 80));
  EXPECT_FALSE(Allowed("fd00:1::7", "a/web", 80));
  EXPECT_EQ(V("fd00::7", "a/web", 80).family, IpFamily::kV6);
}

TEST_F(EvalTest, ExternalEndpointsHaveNoPolicies) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {}, policyTypes: [Ingress, Egress], egress: [{to: [{ipBlock: {cidr: 1.1.1.0/24}}]}]}}
)");
  EXPECT_TRUE(Allowed("a/cli", "1.1.1.1", 443));
  EXPECT_FALSE(Allowed("a/cli", "1.1.2.1", 443));
  EXPECT_FALSE(Allowed("1.1.1.1", "a/cli", 443));
  Verdict v = V("1.1.1.1", "b/cli", 443);
  EXPECT_TRUE(v.allowed);
  EXPECT_FALSE(v.egress.applies);
}

TEST_F(EvalTest, KnownPodIpResolvesToThePod) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: cli}}}]}]}}
)");
  EXPECT_TRUE(Allowed("10.0.0.2", "a/web", 80));
  EXPECT_TRUE(Allowed("fd00::2", "fd00::1", 80));
  EXPECT_FALSE(Allowed("10.0.0.99", "a/web", 80));
  EXPECT_EQ(ev_->Resolve("10.0.0.2")->pod, *ev_->FindPod("a", "cli"));
}

TEST_F(EvalTest, HostNetworkPodsAreNotSelected) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: b},
 spec: {podSelector: {}, policyTypes: [Ingress, Egress]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: q, namespace: a},
 spec: {podSelector: {matchLabels: {app: cli}}, ingress: [{from: [{namespaceSelector: {}}]}]}}
)");
  EXPECT_TRUE(Allowed("8.8.8.8", "b/hn", 22));  // the deny-all in b does not select it
  EXPECT_FALSE(Allowed("b/hn", "a/cli", 80));   // selectors do not match it (a/cli is on n2)
  Verdict v = V("b/hn", "a/cli", 80);
  EXPECT_FALSE(v.egress.applies);
}

TEST_F(EvalTest, OwnNodeIsAlwaysAllowedUnlessDisabled) {
  Load(kDenyIngressA);
  EXPECT_TRUE(Allowed("b/hn", "a/web", 80));          // hostNetwork pod on a/web's node n1
  EXPECT_TRUE(Allowed("192.168.0.1", "a/web", 80));   // a/web's hostIP
  EXPECT_FALSE(Allowed("192.168.0.2", "a/web", 80));  // another node
  Load(kDenyIngressA, EvalOptions{.own_node_always_allowed = false});
  EXPECT_FALSE(Allowed("b/hn", "a/web", 80));
}

TEST_F(EvalTest, APodCanAlwaysReachItself) {
  Load(kDenyIngressA);
  EXPECT_TRUE(Allowed("a/web", "a/web", 80));
  EXPECT_TRUE(Allowed("10.0.0.1", "fd00::1", 80));
}

TEST_F(EvalTest, PodsWithoutIpsAreSelectedButNeverMatchIpBlocks) {
  Load(R"(
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: p, namespace: a},
 spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: cli}}}], ports: [{port: 1}]},
                                                            {from: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 2}]}]}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: e, namespace: a},
 spec: {podSelector: {matchLabels: {app: cli}}, egress: [{ports: [{port: 1}, {port: 2}]}]}}
)");
  EXPECT_TRUE(Allowed("a/pending", "a/web", 1));
  EXPECT_FALSE(Allowed("a/pending", "a/web", 2));
  EXPECT_FALSE(Allowed("a/pending", "a/web", 3));  // its own egress is isolated too
}

TEST_F(EvalTest, ResolveRejectsUnknownAndMalformedEndpoints) {
  Load("");
  EXPECT_EQ(ev_->Resolve("a/nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ev_->Resolve("nope").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ev_->Resolve("a/b/c").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ev_->Resolve("10.0.0.0/8").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace probesnat::policy
