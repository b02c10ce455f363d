#include "agent/cni/plugin_config.h"

#include "agent/cni/cni_error.h"
#include "agent/cni/cni_version.h"
#include "agent/cni/pod_selection.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace probesnat::cni {
namespace {

using json = nlohmann::ordered_json;

CniCode CodeOf(const std::string& text) {
  auto config = ParsePluginConfig(text);
  EXPECT_FALSE(config.ok()) << text;
  return config.ok() ? CniCode{} : ToCniError(config.status()).code;
}

TEST(PluginConfig, MinimalConfigGetsTheDefaults) {
  auto config = ParsePluginConfig(R"({"cniVersion":"1.0.0","name":"k8s","type":"probesnat-cni"})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->cni_version, "1.0.0");
  EXPECT_EQ(config->socket, "/run/probesnat/probesnat.sock");
  EXPECT_EQ(config->timeout, absl::Seconds(5));
  EXPECT_EQ(config->failure_policy, FailurePolicy::kFailClosed);
  EXPECT_TRUE(config->selection.namespaces.empty());
  EXPECT_TRUE(config->selection.exclude_namespaces.empty());
  EXPECT_EQ(config->state_dir, "/var/lib/cni/probesnat");
  EXPECT_FALSE(config->prev_result.has_value());
}

TEST(PluginConfig, EveryOption) {
  auto config = ParsePluginConfig(R"({
    "cniVersion": "1.1.0", "name": "k8s-pod-network", "type": "probesnat-cni",
    "socket": "/tmp/x.sock", "timeout": "750ms", "failurePolicy": "failOpen",
    "namespaces": ["shop", "web"], "excludeNamespaces": ["kube-system"],
    "policyMode": "enforce", "stateDir": "/tmp/state",
    "capabilities": {"portMappings": true}, "runtimeConfig": {},
    "prevResult": {"ips": []},
    "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]
  })");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->socket, "/tmp/x.sock");
  EXPECT_EQ(config->timeout, absl::Milliseconds(750));
  EXPECT_EQ(config->failure_policy, FailurePolicy::kFailOpen);
  EXPECT_EQ(config->selection.namespaces, (std::vector<std::string>{"shop", "web"}));
  EXPECT_EQ(config->selection.exclude_namespaces, (std::vector<std::string>{"kube-system"}));
  EXPECT_EQ(config->policy_mode, "enforce");
  EXPECT_EQ(config->state_dir, "/tmp/state");
  ASSERT_TRUE(config->prev_result.has_value());
  ASSERT_EQ(config->valid_attachments.size(), 1u);
  EXPECT_EQ(config->valid_attachments[0], (Attachment{"c1", "eth0"}));
}

TEST(PluginConfig, Version040IsAccepted) {
  EXPECT_TRUE(ParsePluginConfig(R"({"cniVersion":"0.4.0","name":"n","type":"t"})").ok());
}

TEST(PluginConfig, BadInputsGetTheSpecificationsCodes) {
  EXPECT_EQ(CodeOf("not json"), CniCode::kDecodeFailure);
  EXPECT_EQ(CodeOf("[1,2]"), CniCode::kDecodeFailure);
  EXPECT_EQ(CodeOf(""), CniCode::kDecodeFailure);
  EXPECT_EQ(CodeOf(std::string(kMaxConfigBytes + 1, ' ')), CniCode::kDecodeFailure);
  EXPECT_EQ(CodeOf(R"({"cniVersion":"0.3.1","name":"n","type":"t"})"),
            CniCode::kIncompatibleVersion);
  EXPECT_EQ(CodeOf(R"({"cniVersion":"2.0.0","name":"n","type":"t"})"),
            CniCode::kIncompatibleVersion);
  EXPECT_EQ(CodeOf(R"({"name":"n","type":"t"})"), CniCode::kInvalidConfig);
  EXPECT_EQ(CodeOf(R"({"cniVersion":1,"name":"n","type":"t"})"), CniCode::kInvalidConfig);
  EXPECT_EQ(CodeOf(R"({"cniVersion":"1.0.0","type":"t"})"), CniCode::kInvalidConfig);
  EXPECT_EQ(CodeOf(R"({"cniVersion":"1.0.0","name":"a b","type":"t"})"), CniCode::kInvalidConfig);
  EXPECT_EQ(CodeOf(R"({"cniVersion":"1.0.0","name":"n","type":"t","failurepolicy":"failOpen"})"),
            CniCode::kUnsupportedField);
  const std::string base = R"({"cniVersion":"1.0.0","name":"n","type":"t",)";
  for (const char* bad : {
           R"("socket":"relative.sock"})", R"("socket":7})", R"("timeout":"5"})",
           R"("timeout":"-1s"})", R"("timeout":"0s"})", R"("timeout":"3m"})",
           R"("failurePolicy":"open"})", R"("namespaces":"shop"})", R"("namespaces":["Shop"]})",
           R"("excludeNamespaces":[1]})", R"("policyMode":"strict"})", R"("stateDir":"rel"})",
           R"("prevResult":[]})", R"("cni.dev/valid-attachments":[{"containerID":"c"}]})",
           R"("cni.dev/valid-attachments":{}})"}) {
    EXPECT_EQ(CodeOf(base + bad), CniCode::kInvalidConfig) << bad;
  }
}

TEST(PluginConfig, BestEffortVersionForErrors) {
  EXPECT_EQ(BestEffortVersion(R"({"cniVersion":"0.4.0","junk":1})"), "0.4.0");
  EXPECT_EQ(BestEffortVersion("garbage"), "1.1.0");
  EXPECT_EQ(BestEffortVersion(R"({"cniVersion":"9.9.9"})"), "1.1.0");
}

TEST(CniError, JsonHasEveryFieldOfTheSpecification) {
  json doc = json::parse(ErrorJson("1.0.0", {CniCode::kTryAgainLater, "probesnatd did not", "x"}));
  EXPECT_EQ(doc["cniVersion"], "1.0.0");
  EXPECT_EQ(doc["code"], 11);
  EXPECT_EQ(doc["msg"], "probesnatd did not");
  EXPECT_EQ(doc["details"], "x");
  // Bytes that are not UTF-8 (from hostile input) do not break the document.
  json bad = json::parse(ErrorJson("1.0.0", {CniCode::kInvalidConfig, "bad \xff name", ""}));
  EXPECT_EQ(bad["code"], 7);
  EXPECT_EQ(bad["details"], "");
}

TEST(CniError, StatusRoundTrip) {
  CniError e = ToCniError(CniStatus(CniCode::kPolicyRefused, "refused", "the findings"));
  EXPECT_EQ(e.code, CniCode::kPolicyRefused);
  EXPECT_EQ(e.msg, "refused");
  EXPECT_EQ(e.details, "the findings");
  EXPECT_EQ(ToCniError(absl::InvalidArgumentError("x")).code, CniCode::kInvalidConfig);
  EXPECT_EQ(ToCniError(absl::InternalError("x")).code, CniCode::kIoFailure);
}

TEST(CniVersion, VersionDocument) {
  json doc = json::parse(VersionJson("1.0.0"));
  EXPECT_EQ(doc["cniVersion"], "1.0.0");
  EXPECT_EQ(doc["supportedVersions"], json::array({"0.4.0", "1.0.0", "1.1.0"}));
  EXPECT_TRUE(HasStatusAndGc("1.1.0"));
  EXPECT_FALSE(HasStatusAndGc("1.0.0"));
}

TEST(PodSelection, AllowAndDenyLists) {
  EXPECT_TRUE(SelectPod({}, "shop").enroll);
  EXPECT_FALSE(SelectPod({{}, {"kube-system"}}, "kube-system").enroll);
  EXPECT_TRUE(SelectPod({{}, {"kube-system"}}, "shop").enroll);
  EXPECT_TRUE(SelectPod({{"shop"}, {}}, "shop").enroll);
  EXPECT_FALSE(SelectPod({{"shop"}, {}}, "web").enroll);
  // The deny list wins over the allow list.
  SelectionDecision both = SelectPod({{"shop"}, {"shop"}}, "shop");
  EXPECT_FALSE(both.enroll);
  EXPECT_NE(both.reason.find("excludeNamespaces"), std::string::npos);
}

}  // namespace
}  // namespace probesnat::cni
