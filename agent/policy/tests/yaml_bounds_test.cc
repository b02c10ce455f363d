// Hostile manifests: alias cycles, alias bombs, huge and deep documents are refused with a clear
// INVALID_ARGUMENT before anything is built; a realistic large snapshot still loads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/policy/manifest_loader.h"
#include "agent/policy/yaml_budget.h"

namespace probesnat::policy {
namespace {

using ::testing::HasSubstr;

// `levels` levels of ten aliases to the level below: 10^levels nodes once expanded, inside a List
// so that a walk of the items visits every one of them.
std::string BillionLaughs(int levels) {
  std::string text = "l0: &l0 {kind: Pod, metadata: {name: lol, namespace: lol}}\n";
  for (int i = 1; i <= levels; ++i) {
    absl::StrAppend(&text, "l", i, ": &l", i, " {kind: List, items: [");
    for (int j = 0; j < 10; ++j) {
      absl::StrAppend(&text, j ? ", " : "", "*l", i - 1);
    }
    absl::StrAppend(&text, "]}\n");
  }
  absl::StrAppend(&text, "kind: List\nitems: [*l", levels, "]\n");
  return text;
}

// A Pod as `kubectl get pod -o yaml` prints it (abridged), about 90 nodes.
std::string KubectlPod(int i) {
  return absl::StrCat(R"(- apiVersion: v1
  kind: Pod
  metadata:
    name: web-)",
                      i, R"(
    namespace: ns-)",
                      i % 40, R"(
    uid: 0b7e4f1c-0000-4000-8000-)",
                      1000000 + i, R"(
    labels: {app: web-)",
                      i % 100, R"(, tier: frontend, pod-template-hash: 7d9f8b}
    annotations: {kubectl.kubernetes.io/restartedAt: "2026-01-01T00:00:00Z"}
    ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f8b, uid: 1, controller: true}
  spec:
    nodeName: worker-)",
                      i % 20, R"(
    containers:
    - name: main
      image: registry.example/web:1.2.3
      args: [--port=8080, --metrics=9090]
      env:
      - {name: MODE, value: production}
      - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
      ports:
      - {name: http, containerPort: 8080, protocol: TCP}
      - {name: metrics, containerPort: 9090, protocol: TCP}
      readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 5}
      livenessProbe: {tcpSocket: {port: 8080}, initialDelaySeconds: 3}
      resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
      volumeMounts:
      - {name: kube-api-access, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}
  status:
    phase: Running
    hostIP: 192.168.0.)",
                      i % 20 + 1, R"(
    podIP: 10.)",
                      i / 65536 % 256, ".", i / 256 % 256, ".", i % 256, R"(
    podIPs:
    - ip: 10.)",
                      i / 65536 % 256, ".", i / 256 % 256, ".", i % 256, R"(
    conditions:
    - {type: Ready, status: "True"}
    - {type: ContainersReady, status: "True"}
)");
}

TEST(YamlBounds, CyclicFlowAliasIsRefusedNotRecursedInto) {
  ManifestLoader loader;
  absl::Status s = loader.AddText("&a {kind: List, items: [*a]}\n", "cyclic.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("cyclic.yaml: line 1"));
  EXPECT_THAT(s.message(), HasSubstr("*a refers to a node that contains it (a cycle)"));
}

TEST(YamlBounds, CyclicBlockAliasIsRefused) {
  ManifestLoader loader;
  absl::Status s = loader.AddText("--- &root\nkind: List\nitems:\n- *root\n", "block.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("*root refers to a node that contains it"));
}

TEST(YamlBounds, CycleThroughAnInnerNodeIsRefused) {
  ManifestLoader loader;
  absl::Status s = loader.AddText("kind: List\nitems: &i\n- {kind: List, items: *i}\n", "inner");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("*i refers to a node that contains it"));
}

TEST(YamlBounds, BillionLaughsIsRefusedByTheNodeBudget) {
  const std::string text = BillionLaughs(9);
  ASSERT_LT(text.size(), 1200u);
  ManifestLoader loader;
  absl::Status s = loader.AddText(text, "laughs.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("more than 500000 YAML nodes"));
  EXPECT_THAT(s.message(), HasSubstr("counting each alias as the node it refers to"));
}

TEST(YamlBounds, SmallAliasExpansionStillLoads) {
  // Aliases are legitimate YAML: three levels (1,000 pods once expanded) are under the budget.
  ManifestLoader loader;
  ASSERT_TRUE(loader.AddText(BillionLaughs(3), "laughs3.yaml").ok());
  Cluster c = loader.TakeCluster();
  EXPECT_EQ(c.pods.size(), 1u);  // the same lol/lol pod, a thousand times
}

TEST(YamlBounds, AliasedLargeScalarsAreCountedExpanded) {
  std::string text = absl::StrCat("big: &big \"", std::string(1 << 20, 'x'), "\"\ncopies: [");
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&text, i ? "," : "", "*big");
  }
  absl::StrAppend(&text, "]\n");
  ManifestLoader loader;
  absl::Status s = loader.AddText(text, "scalars.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bytes of scalar values"));
}

TEST(YamlBounds, HugeFlowSequenceIsRefusedBeforeItIsBuilt) {
  std::string text = "[";
  text.reserve(15 << 20);
  while (text.size() < (15u << 20)) {
    text += "0,";
  }
  text += "0]";
  ManifestLoader loader;
  absl::Status s = loader.AddText(text, "flow.json");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("flow.json: line 1, column "));
  EXPECT_THAT(s.message(), HasSubstr("more than 500000 YAML nodes"));
}

TEST(YamlBounds, DeepNestingIsRefusedForYamlAndJson) {
  ManifestLoader loader;
  std::string json = std::string(150, '[') + std::string(150, ']');
  absl::Status s = loader.AddText(json, "deep.json");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("nested more than 100 levels deep"));

  // Deeper than yaml-cpp's own recursion guard: still an error, not a crash.
  std::string deeper = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(loader.AddText(deeper, "deeper.json").code(), absl::StatusCode::kInvalidArgument);

  // Depth reached through an alias counts too.
  std::string yaml = "a: &a " + std::string(60, '[') + std::string(60, ']') +
                     "\nb: " + std::string(60, '[') + "*a" + std::string(60, ']') + "\n";
  s = loader.AddText(yaml, "deep.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("nested more than 100 levels deep"));
}

TEST(YamlBounds, TextSizeLimitIsConfigurable) {
  ManifestLoaderOptions options;
  options.budget.max_text_bytes = 100;
  ManifestLoader loader(options);
  absl::Status s = loader.AddText(std::string(101, '#'), "long.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("long.yaml: 101 bytes is more than the limit of 100 bytes"));
}

TEST(YamlBounds, CancellationStopsTheLoad) {
  ManifestLoaderOptions options;
  options.cancelled = [] { return true; };
  ManifestLoader loader(options);
  std::string text = "[";
  for (int i = 0; i < 100000; ++i) {
    text += "0,";
  }
  text += "0]";
  EXPECT_EQ(loader.AddText(text, "slow.yaml").code(), absl::StatusCode::kCancelled);
}

TEST(YamlBounds, NotYamlIsStillInvalidArgument) {
  ManifestLoader loader;
  absl::Status s = loader.AddText("{a: [1, 2}\n", "broken.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("broken.yaml: line 1"));
  EXPECT_THAT(s.message(), HasSubstr("not valid YAML/JSON"));
}

TEST(YamlBounds, SeveralThousandKubectlPodsStillLoad) {
  std::string text = "apiVersion: v1\nkind: List\nitems:\n";
  for (int i = 0; i < 3000; ++i) {
    text += KubectlPod(i);
  }
  ManifestLoader loader;
  absl::Status s = loader.AddText(text, "pods.yaml");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(loader.problems().empty());
  Cluster c = loader.TakeCluster();
  EXPECT_EQ(c.pods.size(), 3000u);
  EXPECT_EQ(c.namespaces.size(), 40u);
}

}  // namespace
}  // namespace probesnat::policy
