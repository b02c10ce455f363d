// probesnatd --log-format json, read from the real agent's stderr: every line is one JSON object
// with ts, level and msg; every state change (enroll, unenroll, a drift repair, a refusal) carries
// the stable keys that apply to it (uid, pod, netns, latency_us, error); identical errors are
// written once and summed up ("suppressed N identical") when the agent exits.
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "integration/harness/kernel_state.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

using ::testing::MatchesRegex;

class JsonLogTest : public AgentTest {};

std::vector<nlohmann::json> ParseLines(const std::string& log) {
  std::vector<nlohmann::json> records;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not a JSON object: " << line;
    if (j.is_object()) {
      records.push_back(std::move(j));
    }
  }
  return records;
}

TEST_F(JsonLogTest, StateChangesCarryStableKeysAndRepeatedErrorsAreSummedUp) {
  StartDaemon({"--log-format", "json", "--resync-interval", "200ms"});
  const v1::Pod pod_a = PodA(), pod_b = PodB();
  ASSERT_NO_FATAL_FAILURE(MustEnroll(pod_a));
  ASSERT_NO_FATAL_FAILURE(MustEnroll(pod_b));
  // The same refusal five times (a CNI retrying, say): one record, then a count.
  v1::Pod outside = pod_b;
  outside.set_uid("0badc0de-0000-4000-8000-000000000000");
  outside.set_netns_path("/tmp/not-a-netns");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Enroll(*stub_, outside).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  ASSERT_TRUE(Unenroll(*stub_, pod_b.uid()).ok());
  PSNT_ASSERT_OK(RunIn(a().name(), "nft delete table inet probesnat"));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && !absl::StrContains(daemon_->Log(), "pod table repaired")) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::StatusOr<int> stopped = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(stopped.ok()) << stopped.status();

  const std::vector<nlohmann::json> records = ParseLines(daemon_->Log());
  ASSERT_GT(records.size(), 5u) << daemon_->Log();
  const std::set<std::string> levels = {"trace", "debug", "info", "warning", "error", "critical"};
  std::map<std::string, std::vector<nlohmann::json>> by_msg;
  for (const nlohmann::json& r : records) {
    ASSERT_TRUE(r.contains("ts") && r["ts"].is_string()) << r.dump();
    EXPECT_THAT(r["ts"].get<std::string>(),
                MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
    ASSERT_TRUE(r.contains("level") && levels.count(r["level"].get<std::string>())) << r.dump();
    ASSERT_TRUE(r.contains("msg") && r["msg"].is_string()) << r.dump();
    if (r.contains("latency_us")) {
      EXPECT_TRUE(r["latency_us"].is_number_integer()) << r.dump();
      EXPECT_GE(r["latency_us"].get<int64_t>(), 0) << r.dump();
    }
    for (const char* key : {"uid", "pod", "netns", "error"}) {
      if (r.contains(key)) {
        EXPECT_TRUE(r[key].is_string()) << key << " in " << r.dump();
      }
    }
    by_msg[r["msg"].get<std::string>()].push_back(r);
  }

  // Every enroll and unenroll record names the pod and how long it took.
  std::vector<nlohmann::json> applied, refused;
  for (const nlohmann::json& r : by_msg["enroll"]) {
    for (const char* key : {"uid", "pod", "netns", "latency_us", "result"}) {
      EXPECT_TRUE(r.contains(key)) << key << " missing in " << r.dump();
    }
    (r.value("result", "") == "POD_PHASE_APPLIED" ? applied : refused).push_back(r);
  }
  ASSERT_EQ(applied.size(), 2u) << daemon_->Log();
  EXPECT_EQ(applied[0]["uid"], pod_a.uid());
  EXPECT_EQ(applied[0]["pod"], "default/pod-a");
  EXPECT_EQ(applied[0]["netns"], pod_a.netns_path());
  EXPECT_FALSE(applied[0].contains("error")) << applied[0].dump();
  ASSERT_EQ(refused.size(), 1u) << "identical refusals are written once:\n" << daemon_->Log();
  EXPECT_EQ(refused[0]["uid"], outside.uid());
  EXPECT_EQ(refused[0]["level"], "warning");
  EXPECT_EQ(refused[0]["result"], "INVALID_ARGUMENT");
  EXPECT_TRUE(absl::StrContains(refused[0].value("error", ""), "/tmp/not-a-netns")) << refused[0];

  ASSERT_EQ(by_msg["unenroll"].size(), 1u) << daemon_->Log();
  const nlohmann::json& unenrolled = by_msg["unenroll"][0];
  EXPECT_EQ(unenrolled["uid"], pod_b.uid());
  EXPECT_EQ(unenrolled["result"], "REMOVED");
  EXPECT_TRUE(unenrolled.contains("latency_us")) << unenrolled.dump();

  ASSERT_GE(by_msg["drift check: pod table repaired"].size(), 1u) << daemon_->Log();
  const nlohmann::json& repaired = by_msg["drift check: pod table repaired"][0];
  EXPECT_EQ(repaired["uid"], pod_a.uid());
  EXPECT_EQ(repaired["pod"], "default/pod-a");
  EXPECT_EQ(repaired["netns"], pod_a.netns_path());
  EXPECT_EQ(repaired["was"], "deleted");
  EXPECT_EQ(repaired["result"], "APPLIED");
  EXPECT_TRUE(repaired["latency_us"].is_number_integer()) << repaired.dump();

  // The four refusals held back, said at exit with the first one's keys.
  std::vector<nlohmann::json> summaries;
  for (const nlohmann::json& r : records) {
    if (absl::StartsWith(r["msg"].get<std::string>(), "suppressed ")) {
      summaries.push_back(r);
    }
  }
  ASSERT_EQ(summaries.size(), 1u) << daemon_->Log();
  EXPECT_TRUE(absl::StartsWith(summaries[0]["msg"].get<std::string>(), "suppressed 4 identical"))
      << summaries[0];
  EXPECT_EQ(summaries[0]["suppressed"], 4);
  EXPECT_EQ(summaries[0]["uid"], outside.uid());
  EXPECT_EQ(summaries[0]["error"], refused[0]["error"]);
  // The lines as the agent wrote them: an enroll, the repair, the summary.
  for (absl::string_view line : absl::StrSplit(daemon_->Log(), '\n')) {
    if (absl::StrContains(line, "\"msg\":\"enroll\"") && absl::StrContains(line, pod_a.uid())) {
      std::cout << "[ INFO     ] " << line << "\n";
    }
    if (absl::StrContains(line, "pod table repaired") || absl::StrContains(line, "suppressed 4")) {
      std::cout << "[ INFO     ] " << line << "\n";
    }
  }
}

}  // namespace
}  // namespace probesnat::integration
