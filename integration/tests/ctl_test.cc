// probesnatctl's operator commands (status, list, get, unenroll, enroll, sync, watch, check
// --agent) against the real probesnatd over its socket: what they print, their exit codes, and
// that they really change (or, for check, do not change) the agent's state.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <fstream>
#include <sstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "integration/harness/kernel_state.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

struct Ctl {
  int exit_code = -1;
  std::string out, err;
};

class CtlTest : public AgentTest {
 protected:
  Ctl Run(const std::string& args, const std::string& socket = "") {
    ScopedDir dir("psnt-ctl");
    const std::string err_path = dir.path() + "/stderr";
    const std::string cmd =
        absl::StrCat(PROBESNATCTL_PATH, " ", args, " --socket ",
                     socket.empty() ? daemon_->socket_path() : socket, " 2>", err_path);
    Ctl r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
      ADD_FAILURE() << "popen " << cmd;
      return r;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
      r.out.append(buf, n);
    }
    r.exit_code = ExitCode(::pclose(p));
    std::ifstream in(err_path);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    return r;
  }
};

TEST_F(CtlTest, StatusListGetAndUnenrollAgainstTheRunningAgent) {
  Ctl status = Run("status");
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "SERVING on unix:" + daemon_->socket_path()))
      << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "0 enrolled")) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "snapshot none loaded")) << status.out;

  const v1::Pod pod_a = PodA(), pod_b = PodB();
  ASSERT_NO_FATAL_FAILURE(MustEnroll(pod_a));
  ASSERT_NO_FATAL_FAILURE(MustEnroll(pod_b));

  Ctl list = Run("list");
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(absl::StartsWith(list.out, "UID")) << list.out;
  for (const v1::Pod& p : {pod_a, pod_b}) {
    EXPECT_TRUE(absl::StrContains(list.out, p.uid())) << list.out;
    EXPECT_TRUE(absl::StrContains(list.out, absl::StrCat(p.namespace_(), "/", p.name()))) << list.out;
    EXPECT_TRUE(absl::StrContains(list.out, p.ips(0))) << list.out;
  }
  EXPECT_TRUE(absl::StrContains(list.out, "APPLIED")) << list.out;
  std::cout << "[ INFO     ] probesnatctl status:\n" << status.out << "[ INFO     ] probesnatctl list:\n"
            << list.out;

  Ctl json = Run("list -o json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  ASSERT_EQ(parsed["pods"].size(), 2u) << json.out;
  std::set<std::string> uids;
  for (const auto& p : parsed["pods"]) {
    uids.insert(p["pod"]["uid"].get<std::string>());
    EXPECT_EQ(p["phase"], "POD_PHASE_APPLIED") << p.dump();
  }
  EXPECT_EQ(uids, (std::set<std::string>{pod_a.uid(), pod_b.uid()}));

  Ctl wide = Run("list -o wide");
  EXPECT_TRUE(absl::StrContains(wide.out, pod_a.netns_path())) << wide.out;

  Ctl get = Run("get " + pod_a.uid() + " -o yaml");
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(absl::StrContains(get.out, pod_a.uid())) << get.out;
  EXPECT_TRUE(absl::StrContains(get.out, "POD_PHASE_APPLIED")) << get.out;

  Ctl unknown = Run("get 00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out << unknown.err;
  EXPECT_TRUE(absl::StrContains(unknown.err, "not enrolled")) << unknown.err;

  Ctl un = Run("unenroll " + pod_a.uid());
  EXPECT_EQ(un.exit_code, 0) << un.err;
  EXPECT_TRUE(absl::StrContains(un.out, "unenrolled")) << un.out;
  absl::StatusOr<bool> table = HasProbesnatTable(a().name());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_FALSE(*table) << "pod A's table is still there after probesnatctl unenroll";
  Ctl again = Run("unenroll " + pod_a.uid());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(absl::StrContains(again.err, "was not enrolled")) << again.err;

  Ctl after = Run("status -o json");
  ASSERT_EQ(after.exit_code, 0) << after.err;
  nlohmann::json s = nlohmann::json::parse(after.out, nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << after.out;
  EXPECT_EQ(s["serving"], true);
  EXPECT_EQ(s["pods"], 1);
  EXPECT_EQ(s["pods_by_phase"]["APPLIED"], 1);
  EXPECT_EQ(s["policy_snapshot"].value("loaded", false), false) << after.out;
}

TEST_F(CtlTest, AnAbsentAgentOrABadOutputIsExitTwoWithWhatToDo) {
  const std::string missing = "/run/probesnat-ctl-test-nothing-here.sock";
  for (const char* cmd : {"status", "list", "get 3b0f6a52-1c2d-4e8f-9a01-5b6c7d8e9f0a"}) {
    SCOPED_TRACE(cmd);
    Ctl r = Run(cmd, missing);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "cannot reach probesnatd on unix:" + missing)) << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "--socket")) << r.err;
  }
  Ctl bad = Run("list -o xml");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "-o must be")) << bad.err;
}

std::string PodYaml(const v1::Pod& p) {
  return absl::StrCat("uid: ", p.uid(), "\nnamespace: ", p.namespace_(), "\nname: ", p.name(),
                      "\nips: [", absl::StrJoin(p.ips(), ", "), "]\nnetns_path: ", p.netns_path(),
                      "\nlabels: {app: \"true\"}\n");
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST_F(CtlTest, EnrollAndSyncFromFiles) {
  ScopedDir dir("psnt-ctl-files");
  const v1::Pod pod_a = PodA(), pod_b = PodB();
  const std::string file_a = dir.path() + "/a.yaml", file_b = dir.path() + "/b.yaml";
  WriteText(file_a, PodYaml(pod_a));
  WriteText(file_b, "---\n" + PodYaml(pod_b));

  Ctl enroll = Run("enroll -f " + file_a);
  EXPECT_EQ(enroll.exit_code, 0) << enroll.out << enroll.err;
  EXPECT_TRUE(absl::StrContains(enroll.out, "APPLIED")) << enroll.out;
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false)) << "enroll -f wrote no table";

  // b.yaml is the whole desired set: A goes, B comes.
  Ctl sync = Run("sync -f " + file_b);
  EXPECT_EQ(sync.exit_code, 0) << sync.out << sync.err;
  EXPECT_TRUE(absl::StrContains(sync.err, "unenrolled (not in " + file_b + "): pod uid " +
                                              pod_a.uid()))
      << sync.err;
  EXPECT_FALSE(HasProbesnatTable(a().name()).value_or(true)) << "sync -f left pod A's table";
  EXPECT_TRUE(HasProbesnatTable(b().name()).value_or(false)) << "sync -f wrote no table for B";

  // A file that is not a pod says where, and the agent is not asked.
  WriteText(dir.path() + "/bad.yaml", "uid: x\nportz: [1]\n");
  Ctl bad = Run("enroll -f " + dir.path() + "/bad.yaml");
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "bad.yaml document 1: not a pod")) << bad.err;
  // A pod the agent refuses (a path outside the allowed roots) is exit 1 with its reason.
  v1::Pod outside = pod_a;
  outside.set_netns_path("/tmp/not-a-netns");
  WriteText(dir.path() + "/outside.yaml", PodYaml(outside));
  Ctl refused = Run("enroll -f " + dir.path() + "/outside.yaml");
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_TRUE(absl::StrContains(refused.err, "INVALID_ARGUMENT")) << refused.err;
}

TEST_F(CtlTest, WatchPrintsEventsAndEndsCleanlyOnInterrupt) {
  ScopedDir dir("psnt-ctl-watch");
  const std::string out_path = dir.path() + "/out";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* f = std::freopen(out_path.c_str(), "w", stdout);
    (void)f;
    ::execl(PROBESNATCTL_PATH, PROBESNATCTL_PATH, "watch", "--socket",
            daemon_->socket_path().c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto read_out = [&] {
    std::ifstream in(out_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const v1::Pod pod_a = PodA();
  // The watch may not be connected yet when the first Enroll lands: enroll until it shows.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::string seen;
  while (absl::Now() < deadline) {
    MustEnroll(pod_a);
    seen = read_out();
    if (absl::StrContains(seen, pod_a.uid() + " default/pod-a APPLIED")) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(absl::StrContains(seen, pod_a.uid() + " default/pod-a APPLIED")) << seen;
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int status = 0;
  for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    if (i == 99) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "probesnatctl watch did not end on SIGINT";
    }
  }
  EXPECT_EQ(ExitCode(status), 0) << "watch ended with status " << status;
}

// The namespace and both pods as the topology has them, and a policy that lets pod-b reach pod-a on
// 8080 only: neither HBONE (15008) from pod-b nor the probes from the link-local address.
std::string ClusterWithRestrictivePolicy(const v1::Pod& a, const v1::Pod& b) {
  auto pod = [](const v1::Pod& p) {
    return absl::StrCat("- apiVersion: v1\n  kind: Pod\n  metadata: {name: ", p.name(),
                        ", namespace: default, labels: {app: ", p.name(),
                        "}}\n  spec: {containers: [{name: app, ports: [{name: http, "
                        "containerPort: 8080}]}]}\n  status: {phase: Running, podIP: ",
                        p.ips(0), ", podIPs: [{ip: ", p.ips(0), "}, {ip: \"", p.ips(1), "\"}]}\n");
  };
  return absl::StrCat(
      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n"
      "  metadata: {name: default, labels: {kubernetes.io/metadata.name: default}}\n",
      pod(a), pod(b),
      "- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n"
      "  metadata: {name: pod-a-from-b, namespace: default}\n"
      "  spec:\n    podSelector: {matchLabels: {app: pod-a}}\n    policyTypes: [Ingress]\n"
      "    ingress:\n    - from: [{podSelector: {matchLabels: {app: pod-b}}}]\n"
      "      ports: [{port: 8080, protocol: TCP}]\n");
}

// check --agent asks the agent's Policy.Check: what it says follows the snapshot the agent holds
// (none, a restrictive one, the same with the printed fix applied), for an enrolled pod by uid and
// for a pod file, and it changes nothing.
TEST_F(CtlTest, CheckAgainstTheAgentsSnapshotFollowsTheSnapshot) {
  ScopedDir dir("psnt-ctl-check");
  const v1::Pod pod_a = PodA(), pod_b = PodB();
  ASSERT_NO_FATAL_FAILURE(MustEnroll(pod_a));
  ASSERT_NO_FATAL_FAILURE(MustEnroll(pod_b));
  const std::string file_a = dir.path() + "/a.yaml";
  std::string yaml_a = PodYaml(pod_a);
  yaml_a.replace(yaml_a.find("{app: \"true\"}"), 15, "{app: pod-a}\nprobe_ports: [8080]");
  WriteText(file_a, yaml_a);

  Ctl none = Run("check --agent " + pod_a.uid());
  EXPECT_EQ(none.exit_code, 2) << none.out << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "no policy snapshot loaded")) << none.err;

  auto replace = [&](const std::string& manifests) {
    auto policy = v1::Policy::NewStub(daemon_->channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ReplacePolicySnapshotRequest req;
    req.add_manifests(manifests);
    v1::ReplacePolicySnapshotResponse resp;
    grpc::Status st = policy->ReplaceSnapshot(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << Describe(st);
    ASSERT_EQ(resp.problems_size(), 0) << resp.DebugString();
  };
  ASSERT_NO_FATAL_FAILURE(replace(ClusterWithRestrictivePolicy(pod_a, pod_b)));

  Ctl text = Run("check --agent " + pod_a.uid());
  EXPECT_EQ(text.exit_code, 1) << text.out << text.err;
  EXPECT_TRUE(absl::StrContains(text.out, "HBONE_INGRESS default/pod-a")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "PROBE_INGRESS default/pod-a")) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "policy default/pod-a-from-b ingress rule 0"))
      << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "checked against probesnatd's policy snapshot"))
      << text.out;
  std::cout << "[ INFO     ] probesnatctl check --agent " << pod_a.uid() << ":\n" << text.out;

  Ctl json = Run("check --agent -f " + file_a + " -o json");
  EXPECT_EQ(json.exit_code, 1) << json.err;
  nlohmann::json report = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << json.out;
  EXPECT_EQ(report["compatible"], false);
  EXPECT_EQ(report["subjects"], nlohmann::json::array({"default/pod-a"}));
  std::set<std::string> kinds;
  for (const auto& f : report["findings"]) {
    kinds.insert(f["kind"].get<std::string>());
    EXPECT_EQ(f["policy_name"], "pod-a-from-b") << f.dump();
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"HBONE_INGRESS", "PROBE_INGRESS"}));

  Ctl fixes = Run("check --agent -f " + file_a + " -o fixes");
  EXPECT_EQ(fixes.exit_code, 1) << fixes.err;
  EXPECT_TRUE(absl::StartsWith(fixes.out, "---\n")) << fixes.out;
  EXPECT_TRUE(absl::StrContains(fixes.out, "15008")) << fixes.out;
  EXPECT_TRUE(absl::StrContains(fixes.out, "169.254.7.127/32")) << fixes.out;
  EXPECT_TRUE(
      absl::StrContains(fixes.err, "corrected NetworkPolicies on stdout: default/pod-a-from-b"))
      << fixes.err;

  // The same cluster with the printed fix in place of the policy: nothing left to find.
  std::string fixed = ClusterWithRestrictivePolicy(pod_a, pod_b);
  fixed = fixed.substr(0, fixed.find("- apiVersion: networking.k8s.io/v1"));
  ASSERT_NO_FATAL_FAILURE(replace(fixed));
  ASSERT_NO_FATAL_FAILURE(replace(fixed + "---\n" + fixes.out.substr(4)));
  Ctl clean = Run("check --agent " + pod_a.uid());
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_TRUE(absl::StrContains(clean.out, "Compatible")) << clean.out;

  Ctl unknown = Run("check --agent 00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out << unknown.err;
  EXPECT_TRUE(absl::StrContains(unknown.err, "is not enrolled on this node")) << unknown.err;
  Ctl absent = Run("check --agent " + pod_a.uid(), "/run/probesnat-ctl-test-nothing-here.sock");
  EXPECT_EQ(absent.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(absent.err, "cannot reach probesnatd")) << absent.err;

  // Checking enrolled nothing new and left both pods as they were.
  Ctl list = Run("list -o json");
  nlohmann::json pods = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_FALSE(pods.is_discarded()) << list.out;
  EXPECT_EQ(pods["pods"].size(), 2u) << list.out;
}

}  // namespace
}  // namespace probesnat::integration
