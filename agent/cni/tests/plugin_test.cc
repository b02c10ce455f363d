// The plugin's verbs over a fake agent: which calls it makes, what it prints, which CNI errors.
#include "agent/cni/plugin.h"

#include <stdlib.h>

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "agent/cni/attachment_store.h"
#include "agent/domain/error_reason.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace probesnat::cni {
namespace {

using json = nlohmann::ordered_json;

class FakeAgent : public AgentClient {
 public:
  absl::Status Enroll(const v1::Pod& pod, v1::PolicyMode mode) override {
    ++calls;
    if (!next_error.ok()) return next_error;
    last_mode = mode;
    v1::PodStatus status;
    *status.mutable_pod() = pod;
    status.set_phase(v1::POD_PHASE_APPLIED);
    pods[pod.uid()] = status;
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Unenroll(const std::string& uid) override {
    ++calls;
    if (!next_error.ok()) return next_error;
    unenrolled.push_back(uid);
    return pods.erase(uid) > 0;
  }
  absl::StatusOr<v1::PodStatus> Get(const std::string& uid) override {
    ++calls;
    if (!next_error.ok()) return next_error;
    auto it = pods.find(uid);
    if (it == pods.end()) return absl::NotFoundError("no such pod");
    return it->second;
  }
  absl::Status Health() override {
    ++calls;
    return next_error;
  }

  absl::Status next_error;
  std::map<std::string, v1::PodStatus> pods;
  std::vector<std::string> unenrolled;
  v1::PolicyMode last_mode = v1::POLICY_MODE_UNSPECIFIED;
  int calls = 0;
};

class FakeProbe : public PodTableProbe {
 public:
  absl::StatusOr<bool> HasPodTable(const std::string& netns_path) override { return present; }
  bool present = true;
};

constexpr char kUid[] = "3b0f6a52-1c2d-4e8f-9a01-5b6c7d8e9f0a";

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/psnt-cni-plugin-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    state_dir_ = tmpl;
    deps_.connect = [this](const PluginConfig& config) -> std::unique_ptr<AgentClient> {
      connected_socket_ = config.socket;
      // The fake outlives every run: hand out a forwarding wrapper.
      struct Forward : AgentClient {
        FakeAgent* a;
        explicit Forward(FakeAgent* a) : a(a) {}
        absl::Status Enroll(const v1::Pod& p, v1::PolicyMode m) override { return a->Enroll(p, m); }
        absl::StatusOr<bool> Unenroll(const std::string& u) override { return a->Unenroll(u); }
        absl::StatusOr<v1::PodStatus> Get(const std::string& u) override { return a->Get(u); }
        absl::Status Health() override { return a->Health(); }
      };
      return std::make_unique<Forward>(&agent_);
    };
    deps_.probe = &probe_;
  }
  void TearDown() override { std::filesystem::remove_all(state_dir_); }

  json Config(const std::string& version = "1.0.0") const {
    return json{{"cniVersion", version},
                {"name", "k8s"},
                {"type", "probesnat-cni"},
                {"socket", "/run/test.sock"},
                {"stateDir", state_dir_},
                {"prevResult",
                 json::parse(R"({"cniVersion":"1.0.0",
                   "interfaces":[{"name":"cni0"},{"name":"eth0","sandbox":"/run/netns/p1"}],
                   "ips":[{"interface":1,"address":"10.22.0.5/16"},
                          {"interface":1,"address":"fd00:22::5/64"}]})")}};
  }

  Outcome Run(const std::string& command, const json& config,
              const std::string& args = std::string("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;"
                                                    "K8S_POD_UID=") + kUid) {
    Invocation inv;
    inv.command = command;
    inv.container_id = "c0ffee";
    inv.netns = "/run/netns/p1";
    inv.ifname = "eth0";
    inv.args = args;
    inv.path = "/opt/cni/bin";
    inv.stdin_bytes = config.dump();
    return RunPlugin(inv, deps_);
  }

  static json ErrorOf(const Outcome& out) {
    EXPECT_NE(out.exit_code, 0);
    json doc = json::parse(out.stdout_text, nullptr, false);
    EXPECT_TRUE(doc.is_object()) << out.stdout_text;
    EXPECT_TRUE(doc.contains("cniVersion") && doc.contains("code") && doc.contains("msg") &&
                doc.contains("details"))
        << out.stdout_text;
    return doc;
  }

  std::string state_dir_;
  std::string connected_socket_;
  FakeAgent agent_;
  FakeProbe probe_;
  PluginDeps deps_;
};

TEST_F(PluginTest, AddEnrollsAndReturnsPrevResult) {
  json config = Config();
  config["policyMode"] = "enforce";
  Outcome out = Run("ADD", config);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  json result = json::parse(out.stdout_text);
  json expected = config["prevResult"];
  expected["cniVersion"] = "1.0.0";
  EXPECT_EQ(result, expected);
  ASSERT_EQ(agent_.pods.count(kUid), 1u);
  const v1::Pod& pod = agent_.pods[kUid].pod();
  EXPECT_EQ(pod.namespace_(), "shop");
  EXPECT_EQ(pod.name(), "web");
  EXPECT_EQ(pod.netns_path(), "/run/netns/p1");
  ASSERT_EQ(pod.ips_size(), 2);
  EXPECT_EQ(pod.ips(0), "10.22.0.5");
  EXPECT_EQ(pod.ips(1), "fd00:22::5");
  EXPECT_EQ(agent_.last_mode, v1::POLICY_MODE_ENFORCE);
  EXPECT_EQ(connected_socket_, "/run/test.sock");
  auto record = AttachmentStore(state_dir_, "k8s").Read("c0ffee", "eth0");
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->uid, kUid);
}

TEST_F(PluginTest, AddOutputsTheConfigsVersion) {
  json config = Config("0.4.0");
  config["prevResult"]["cniVersion"] = "0.4.0";
  Outcome out = Run("ADD", config);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(json::parse(out.stdout_text)["cniVersion"], "0.4.0");
}

TEST_F(PluginTest, ExcludedNamespaceIsPassedThroughWithoutCallingTheAgent) {
  json config = Config();
  config["excludeNamespaces"] = {"shop"};
  Outcome out = Run("ADD", config);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_EQ(agent_.calls, 0);
  EXPECT_TRUE(json::parse(out.stdout_text).contains("ips"));
  // CHECK and DEL of such a pod succeed without the agent too.
  EXPECT_EQ(Run("CHECK", config).exit_code, 0);
  EXPECT_EQ(Run("DEL", config).exit_code, 0);
  EXPECT_EQ(agent_.calls, 0);
}

TEST_F(PluginTest, BadInputsAreCniErrors) {
  json no_prev = Config();
  no_prev.erase("prevResult");
  EXPECT_EQ(ErrorOf(Run("ADD", no_prev))["code"], 7);
  EXPECT_EQ(ErrorOf(Run("ADD", Config(), ""))["code"], 4);
  EXPECT_EQ(ErrorOf(Run("ADD", Config(), "K8S_POD_NAME"))["code"], 4);
  EXPECT_EQ(ErrorOf(Run("FROB", Config()))["code"], 4);
  json bad = Config();
  bad["timeout"] = "soon";
  EXPECT_EQ(ErrorOf(Run("ADD", bad))["code"], 7);
  Invocation inv;
  inv.command = "ADD";
  inv.stdin_bytes = "{not json";
  EXPECT_EQ(ErrorOf(RunPlugin(inv, deps_))["code"], 6);
  inv.stdin_bytes = Config().dump();
  inv.container_id = "";  // missing CNI_CONTAINERID
  inv.ifname = "eth0";
  inv.netns = "/run/netns/p1";
  EXPECT_EQ(ErrorOf(RunPlugin(inv, deps_))["code"], 4);
  inv.container_id = "c1";
  inv.netns = "";  // ADD needs CNI_NETNS
  EXPECT_EQ(ErrorOf(RunPlugin(inv, deps_))["code"], 4);
  EXPECT_EQ(agent_.calls, 0);
}

TEST_F(PluginTest, AgentDownFailClosedIsTryAgainLater) {
  agent_.next_error = absl::UnavailableError("failed to connect to all addresses");
  json error = ErrorOf(Run("ADD", Config()));
  EXPECT_EQ(error["code"], 11);
  EXPECT_NE(error["details"].get<std::string>().find("/run/test.sock"), std::string::npos);
  agent_.next_error = absl::DeadlineExceededError("Deadline Exceeded");
  EXPECT_EQ(ErrorOf(Run("ADD", Config()))["code"], 11);
  agent_.next_error = absl::InternalError("boom");
  EXPECT_EQ(ErrorOf(Run("ADD", Config()))["code"], 103);
}

TEST_F(PluginTest, AgentDownFailOpenStartsThePodUnenrolledAndCheckSaysSo) {
  json config = Config();
  config["failurePolicy"] = "failOpen";
  agent_.next_error = absl::UnavailableError("failed to connect to all addresses");
  Outcome out = Run("ADD", config);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_TRUE(json::parse(out.stdout_text).contains("ips"));
  ASSERT_FALSE(out.log.empty());
  EXPECT_NE(out.log.back().find("WITHOUT"), std::string::npos);
  agent_.next_error = absl::OkStatus();
  EXPECT_EQ(ErrorOf(Run("CHECK", config))["code"], 104);
}

TEST_F(PluginTest, PolicyRefusalFailsEvenWhenFailOpen) {
  json config = Config();
  config["failurePolicy"] = "failOpen";
  agent_.next_error =
      agent::WithErrorReason(absl::FailedPreconditionError("probe from 169.254.7.127 blocked by "
                                                           "deny-all"),
                             agent::ErrorReason::kPolicyRefused);
  json error = ErrorOf(Run("ADD", config));
  EXPECT_EQ(error["code"], 101);
  EXPECT_NE(error["msg"].get<std::string>().find("NetworkPolicy check refused pod shop/web"),
            std::string::npos)
      << error;
  EXPECT_NE(error["details"].get<std::string>().find("deny-all"), std::string::npos);
  agent_.next_error = absl::InvalidArgumentError("pod.ips[0]: the node's address");
  EXPECT_EQ(ErrorOf(Run("ADD", config))["code"], 102);
}

TEST_F(PluginTest, NamespaceConflictIsNotAPolicyRefusal) {
  json config = Config();
  config["failurePolicy"] = "failOpen";
  agent_.next_error = agent::WithErrorReason(
      absl::FailedPreconditionError("network namespace /run/netns/x is already enrolled for pod "
                                    "shop/old-0; unenroll that pod first"),
      agent::ErrorReason::kNetnsConflict);
  json error = ErrorOf(Run("ADD", config));
  EXPECT_EQ(error["code"], 105);
  EXPECT_EQ(error["msg"],
            "the network namespace of pod shop/web is already enrolled for another pod");
  EXPECT_NE(error["details"].get<std::string>().find("shop/old-0"), std::string::npos);
}

TEST_F(PluginTest, IpConflictIsNotAPolicyRefusal) {
  agent_.next_error = agent::WithErrorReason(
      absl::FailedPreconditionError("IP 10.88.0.7 is already enrolled for pod shop/old-0"),
      agent::ErrorReason::kIpConflict);
  json error = ErrorOf(Run("ADD", Config()));
  EXPECT_EQ(error["code"], 105);
  EXPECT_EQ(error["msg"], "an IP of pod shop/web is already enrolled for another pod");
  EXPECT_NE(error["details"].get<std::string>().find("10.88.0.7"), std::string::npos);
}

TEST_F(PluginTest, UnmarkedPreconditionIsReportedAsSuch) {
  json config = Config();
  config["failurePolicy"] = "failOpen";
  // An agent that names no reason (an older one, or a precondition without a reason).
  agent_.next_error = absl::FailedPreconditionError("something else");
  json error = ErrorOf(Run("ADD", config));
  EXPECT_EQ(error["code"], 106);
  EXPECT_NE(error["msg"].get<std::string>().find("a precondition failed"), std::string::npos);
  EXPECT_EQ(error["details"], "something else");
}

TEST_F(PluginTest, DelUnenrollsAndIsIdempotent) {
  ASSERT_EQ(Run("ADD", Config()).exit_code, 0);
  // DEL may come without CNI_ARGS and CNI_NETNS: the record names the uid.
  Outcome del = Run("DEL", Config(), "");
  ASSERT_EQ(del.exit_code, 0) << del.stdout_text;
  EXPECT_EQ(agent_.unenrolled, (std::vector<std::string>{kUid}));
  EXPECT_TRUE(agent_.pods.empty());
  EXPECT_FALSE(AttachmentStore(state_dir_, "k8s").Read("c0ffee", "eth0")->has_value());
  // Again: no record; the runtime's uid is unenrolled once more (idempotent), success.
  EXPECT_EQ(Run("DEL", Config()).exit_code, 0);
  // Without record and without arguments there is nothing to do.
  int calls = agent_.calls;
  EXPECT_EQ(Run("DEL", Config(), "").exit_code, 0);
  EXPECT_EQ(agent_.calls, calls);
}

TEST_F(PluginTest, DelWithAgentDown) {
  ASSERT_EQ(Run("ADD", Config()).exit_code, 0);
  agent_.next_error = absl::UnavailableError("connection refused");
  // failClosed: the runtime must retry; the record stays.
  EXPECT_EQ(ErrorOf(Run("DEL", Config()))["code"], 11);
  EXPECT_TRUE(AttachmentStore(state_dir_, "k8s").Read("c0ffee", "eth0")->has_value());
  // failOpen: DEL succeeds and leaves the record for GC.
  json open = Config();
  open["failurePolicy"] = "failOpen";
  EXPECT_EQ(Run("DEL", open).exit_code, 0);
  EXPECT_TRUE(AttachmentStore(state_dir_, "k8s").Read("c0ffee", "eth0")->has_value());
  // No record and the agent down: nothing proves an enrollment, success.
  ASSERT_TRUE(AttachmentStore(state_dir_, "k8s").Remove("c0ffee", "eth0").ok());
  EXPECT_EQ(Run("DEL", Config()).exit_code, 0);
}

TEST_F(PluginTest, CheckComparesAgentAndKernel) {
  ASSERT_EQ(Run("ADD", Config()).exit_code, 0);
  Outcome ok = Run("CHECK", Config());
  EXPECT_EQ(ok.exit_code, 0) << ok.stdout_text;
  EXPECT_TRUE(ok.stdout_text.empty());

  probe_.present = false;
  json error = ErrorOf(Run("CHECK", Config()));
  EXPECT_EQ(error["code"], 104);
  EXPECT_NE(error["msg"].get<std::string>().find("table inet probesnat"), std::string::npos);
  probe_.present = true;

  json moved = Config();
  moved["prevResult"]["ips"][0]["address"] = "10.22.0.6/16";
  EXPECT_EQ(ErrorOf(Run("CHECK", moved))["code"], 104);

  agent_.pods[kUid].set_phase(v1::POD_PHASE_FAILED);
  EXPECT_EQ(ErrorOf(Run("CHECK", Config()))["code"], 104);

  agent_.pods.clear();
  EXPECT_EQ(ErrorOf(Run("CHECK", Config()))["code"], 104);

  agent_.next_error = absl::UnavailableError("down");
  EXPECT_EQ(ErrorOf(Run("CHECK", Config()))["code"], 11);
}

TEST_F(PluginTest, CheckWithoutRecordForASelectedPodFails) {
  EXPECT_EQ(ErrorOf(Run("CHECK", Config()))["code"], 104);
}

TEST_F(PluginTest, VersionAnswersWithoutConfig) {
  Invocation inv;
  inv.command = "VERSION";
  inv.stdin_bytes = R"({"cniVersion":"1.0.0"})";
  Outcome out = RunPlugin(inv, deps_);
  ASSERT_EQ(out.exit_code, 0);
  json doc = json::parse(out.stdout_text);
  EXPECT_EQ(doc["cniVersion"], "1.0.0");
  EXPECT_EQ(doc["supportedVersions"].size(), 3u);
  inv.stdin_bytes = "";
  EXPECT_EQ(json::parse(RunPlugin(inv, deps_).stdout_text)["cniVersion"], "1.1.0");
}

TEST_F(PluginTest, StatusReflectsAgentHealth) {
  Invocation inv;
  inv.command = "STATUS";
  inv.stdin_bytes = Config("1.1.0").dump();
  EXPECT_EQ(RunPlugin(inv, deps_).exit_code, 0);
  agent_.next_error = absl::UnavailableError("not serving");
  EXPECT_EQ(ErrorOf(RunPlugin(inv, deps_))["code"], 50);
  json open = Config("1.1.0");
  open["failurePolicy"] = "failOpen";
  inv.stdin_bytes = open.dump();
  EXPECT_EQ(RunPlugin(inv, deps_).exit_code, 0);
  // STATUS does not exist before 1.1.0.
  inv.stdin_bytes = Config("1.0.0").dump();
  EXPECT_EQ(ErrorOf(RunPlugin(inv, deps_))["code"], 1);
}

TEST_F(PluginTest, GcUnenrollsOnlyStaleAttachmentsItEnrolled) {
  AttachmentStore store(state_dir_, "k8s");
  for (const char* id : {"keep", "gone1", "gone2"}) {
    ASSERT_TRUE(store.Write({id, "eth0", absl::StrCat("uid-", id), "shop", id, "/run/netns/x",
                             {"10.0.0.2"}, true})
                    .ok());
  }
  json config = Config("1.1.0");
  config.erase("prevResult");
  config["cni.dev/valid-attachments"] = json::array({{{"containerID", "keep"}, {"ifname", "eth0"}}});
  Invocation inv;
  inv.command = "GC";
  inv.stdin_bytes = config.dump();
  Outcome out = RunPlugin(inv, deps_);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  std::sort(agent_.unenrolled.begin(), agent_.unenrolled.end());
  EXPECT_EQ(agent_.unenrolled, (std::vector<std::string>{"uid-gone1", "uid-gone2"}));
  auto left = store.List();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].container_id, "keep");

  // With the agent down the stale records stay and GC says try again.
  ASSERT_TRUE(store.Write({"gone3", "eth0", "uid-gone3", "shop", "g", "/x", {}, true}).ok());
  agent_.next_error = absl::UnavailableError("down");
  EXPECT_EQ(ErrorOf(RunPlugin(inv, deps_))["code"], 11);
  EXPECT_EQ(store.List()->size(), 2u);
}

}  // namespace
}  // namespace probesnat::cni
