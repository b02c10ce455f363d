// probesnatctl's operator commands (status, list, get, unenroll) against the real probesnatd over
// its socket: what they print, their exit codes, and that unenroll really removes the rules.
#include <sys/wait.h>

#include <cstdio>
#include <iostream>
#include <fstream>
#include <sstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

}  // namespace
}  // namespace probesnat::integration
