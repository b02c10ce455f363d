#include "agent/policy/manifest_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "agent/policy/evaluator.h"

namespace probesnat::policy {
namespace {

using ::testing::HasSubstr;

const std::string kData = POLICY_TESTDATA;

TEST(Loader, ReadsKubectlListOutput) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddPath(kData + "/corpus/kubectl_output/cluster.yaml").ok());
  EXPECT_TRUE(l.problems().empty());
  Cluster c = l.TakeCluster();
  ASSERT_EQ(c.namespaces.size(), 2u);
  ASSERT_EQ(c.pods.size(), 3u);
  ASSERT_EQ(c.policies.size(), 2u);
  const Pod& fe = c.pods[0];
  EXPECT_EQ(fe.Key(), "shop/frontend-7d9f8b-abcde");
  ASSERT_EQ(fe.ips.size(), 2u);
  EXPECT_EQ(fe.ips[1].ToString(), "fd00:10:244:1::5");
  EXPECT_EQ(fe.node_name, "worker-1");
  ASSERT_EQ(fe.ports.size(), 1u);
  EXPECT_EQ(fe.ports[0].name, "http");
  EXPECT_EQ(fe.ProbePorts(), std::vector<int>({8080}));         // named http and numeric 8080
  EXPECT_EQ(c.pods[1].ProbePorts(), std::vector<int>({9001}));  // grpc probe
  const NetworkPolicy& be = c.policies[1];
  EXPECT_TRUE(be.affects_ingress);
  EXPECT_TRUE(be.affects_egress);
  ASSERT_EQ(be.ingress.size(), 2u);
  EXPECT_EQ(be.ingress[0].ports[0].named, "api");
  ASSERT_TRUE(be.ingress[1].peers[0].namespace_selector.has_value());
  ASSERT_TRUE(be.ingress[1].peers[0].pod_selector.has_value());
}

TEST(Loader, MultiDocumentYamlJsonAndTypedLists) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddPath(kData + "/corpus/ports/cluster.json").ok());
  ASSERT_TRUE(l.AddPath(kData + "/corpus/selectors/cluster.yaml").ok());
  ASSERT_TRUE(l.AddPath(kData + "/corpus/policy_types/cluster.yaml").ok());  // has a ConfigMap
  EXPECT_TRUE(l.problems().empty());
  Cluster c = l.TakeCluster();
  EXPECT_EQ(c.pods.size(), 5u + 6u + 5u);
  EXPECT_EQ(c.policies.size(), 3u + 1u + 5u);
  // z has no Namespace object: it exists with the implicit label only.
  bool found_z = false;
  for (const Namespace& n : c.namespaces) {
    EXPECT_EQ(n.labels.at("kubernetes.io/metadata.name"), n.name);
    if (n.name == "z") {
      found_z = true;
    }
  }
  EXPECT_TRUE(found_z);
}

TEST(Loader, PolicyTypesDefaulting) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddPath(kData + "/corpus/policy_types/cluster.yaml").ok());
  Cluster c = l.TakeCluster();
  ASSERT_EQ(c.policies.size(), 5u);
  EXPECT_TRUE(c.policies[0].affects_ingress);  // egress rules only, no policyTypes
  EXPECT_TRUE(c.policies[0].affects_egress);
  EXPECT_TRUE(c.policies[1].affects_ingress);  // egress: []
  EXPECT_FALSE(c.policies[1].affects_egress);
  EXPECT_FALSE(c.policies[2].affects_ingress);  // policyTypes: [Egress]
  EXPECT_TRUE(c.policies[2].affects_egress);
  EXPECT_FALSE(c.policies[3].affects_ingress);  // [Egress] with ingress rules
  EXPECT_EQ(c.policies[3].ingress.size(), 1u);
  EXPECT_TRUE(c.policies[4].affects_ingress);  // [Ingress] with egress rules
  EXPECT_FALSE(c.policies[4].affects_egress);
}

TEST(Loader, DirectoriesAreReadRecursively) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddPath(kData + "/corpus").ok());
  Cluster c = l.TakeCluster();
  EXPECT_GT(c.pods.size(), 25u);
  EXPECT_GT(c.policies.size(), 12u);
}

TEST(Loader, InvalidObjectsAreReportedWithFileObjectAndFieldAndTheRestLoads) {
  ManifestLoader l;
  const std::string file = kData + "/invalid/policies.yaml";
  ASSERT_TRUE(l.AddPath(file).ok());
  std::vector<std::string> lines;
  for (const LoadProblem& p : l.problems()) {
    EXPECT_EQ(p.source, file);
    lines.push_back(p.ToString());
  }
  auto has = [&](const std::string& object, const std::string& field) {
    for (const LoadProblem& p : l.problems()) {
      if (p.object == object && p.field == field) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has("NetworkPolicy default/bad-cidr", "spec.ingress[0].from[0].ipBlock.cidr"));
  EXPECT_TRUE(
      has("NetworkPolicy default/except-outside", "spec.ingress[0].from[0].ipBlock.except[0]"));
  EXPECT_TRUE(has("NetworkPolicy default/ipblock-and-selector", "spec.ingress[0].from[0].ipBlock"));
  EXPECT_TRUE(has("NetworkPolicy default/empty-peer", "spec.egress[0].to[0]"));
  EXPECT_TRUE(has("NetworkPolicy default/endport-named", "spec.ingress[0].ports[0].endPort"));
  EXPECT_TRUE(has("NetworkPolicy default/endport-below", "spec.ingress[0].ports[0].endPort"));
  EXPECT_TRUE(has("NetworkPolicy default/endport-no-port", "spec.ingress[0].ports[0].endPort"));
  EXPECT_TRUE(
      has("NetworkPolicy default/bad-operator", "spec.podSelector.matchExpressions[0].operator"));
  EXPECT_TRUE(has("NetworkPolicy default/exists-with-values",
                  "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values"));
  EXPECT_TRUE(has("NetworkPolicy default/in-without-values",
                  "spec.podSelector.matchExpressions[0].values"));
  EXPECT_TRUE(has("NetworkPolicy default/bad-protocol", "spec.ingress[0].ports[0].protocol"));
  EXPECT_TRUE(has("NetworkPolicy default/quoted-number-port", "spec.ingress[0].ports[0].port"));
  EXPECT_TRUE(has("NetworkPolicy default/bad-policy-type", "spec.policyTypes[0]"));
  Cluster c = l.TakeCluster();
  ASSERT_EQ(c.policies.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_EQ(c.policies[0].name, "good");
  EXPECT_EQ(c.policies[0].ingress[0].ports[0].end_port, 8100);
}

TEST(Loader, ExceptEqualToCidrIsRejected) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddText(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]
)",
                        "inline")
                  .ok());
  ASSERT_EQ(l.problems().size(), 1u);
  EXPECT_THAT(l.problems()[0].ToString(), HasSubstr("strict subset"));
  EXPECT_EQ(l.problems()[0].object, "NetworkPolicy default/p");  // namespace defaults to default
}

// Label keys follow Kubernetes' rule (base/k8s_names.h), the same the daemon validates pods with:
// the prefix before '/' is a DNS-1123 subdomain, so an empty or dash-ended part is refused.
TEST(Loader, LabelKeyPrefixesMustBeDns1123Subdomains) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddText(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector:
    matchLabels: {"example.com/app": web, "a..b/app": web, "a-.b/app": web, "Example.com/app": web}
)",
                        "inline")
                  .ok());
  std::vector<std::string> fields;
  for (const LoadProblem& p : l.problems()) {
    fields.push_back(p.field);
  }
  EXPECT_THAT(fields,
              ::testing::UnorderedElementsAre("spec.podSelector.matchLabels.a..b/app",
                                              "spec.podSelector.matchLabels.a-.b/app",
                                              "spec.podSelector.matchLabels.Example.com/app"));
}

TEST(Loader, PodIpFallsBackToPodIpAndLaterObjectsReplaceEarlierOnes) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddText(R"(
{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}, "status": {"podIP": "10.0.0.1"}}
)",
                        "one.json")
                  .ok());
  ASSERT_TRUE(l.AddText(R"(
kind: Pod
apiVersion: v1
metadata: {name: a, labels: {v: "2"}}
status: {podIP: 10.0.0.2}
)",
                        "two.yaml")
                  .ok());
  Cluster c = l.TakeCluster();
  ASSERT_EQ(c.pods.size(), 1u);
  EXPECT_EQ(c.pods[0].ns, "default");
  EXPECT_EQ(c.pods[0].ips[0].ToString(), "10.0.0.2");
  EXPECT_EQ(c.pods[0].labels.at("v"), "2");
}

TEST(Loader, SyntaxErrorsAndMissingFilesAreErrors) {
  ManifestLoader l;
  absl::Status s = l.AddText("kind: Pod\nmetadata: {name: [\n", "broken.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("broken.yaml"));
  EXPECT_EQ(l.AddPath("/nonexistent/cluster.yaml").code(), absl::StatusCode::kNotFound);
}

TEST(Loader, OtherApiVersionsOfNetworkPolicyAreReported) {
  ManifestLoader l;
  ASSERT_TRUE(l.AddText("apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: "
                        "old}\nspec: {podSelector: {}}\n",
                        "x")
                  .ok());
  ASSERT_EQ(l.problems().size(), 1u);
  EXPECT_EQ(l.problems()[0].field, "apiVersion");
}

}  // namespace
}  // namespace probesnat::policy

namespace probesnat::policy {
namespace {

// Mutated manifests never crash or throw: they load, are reported, or are a syntax error.
TEST(Loader, MutatedManifestsNeverCrash) {
  std::mt19937 rng(42);
  int syntax_errors = 0;
  int loaded = 0;
  for (const char* file : {"/corpus/basics/cluster.yaml", "/corpus/ports/cluster.json",
                           "/corpus/kubectl_output/cluster.yaml", "/invalid/policies.yaml"}) {
    std::ifstream in(kData + file);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string original = ss.str();
    for (int i = 0; i < 150; ++i) {
      std::string text = original;
      for (int m = 0; m < 3; ++m) {
        size_t pos = rng() % text.size();
        size_t len = 1 + rng() % 12;
        switch (rng() % 3) {
          case 0:
            text.erase(pos, len);
            break;
          case 1:
            text.insert(pos, text.substr(rng() % text.size(), len));
            break;
          default:
            text[pos] = "{}[]:-,\"' \n#&*!|>0a"[rng() % 19];
            break;
        }
      }
      ManifestLoader l;
      absl::Status s = l.AddText(text, "mutated");
      if (s.ok()) {
        ++loaded;
        Evaluator ev(l.TakeCluster());  // whatever loaded must be usable
        for (int p = 0; p < static_cast<int>(ev.cluster().pods.size()); ++p) {
          ev.Evaluate(ev.PodEndpoint(p), ev.PodEndpoint(0), 80, Protocol::kTCP);
        }
      } else {
        ++syntax_errors;
        EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      }
    }
  }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(syntax_errors, 0);
}

}  // namespace
}  // namespace probesnat::policy
