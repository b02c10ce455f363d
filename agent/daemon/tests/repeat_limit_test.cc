// The repeat limit on a fake clock: the first of identical error records passes, the rest within
// the window are counted, and one summary says how many were held back. Informational records and
// records that differ (another uid, another error) always pass.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "agent/daemon/log_record.h"
#include "agent/daemon/repeat_limiter.h"
#include "agent/daemon/testing/log_capture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using ::testing::HasSubstr;

class FakeClock {
 public:
  absl::Time now() const { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1764763200);
};

TEST(RepeatLimiterTest, FirstPassesRepeatsAreCountedAndSummedUpAfterTheWindow) {
  FakeClock clock;
  RepeatLimiter<std::string> limiter(absl::Seconds(60), [&] { return clock.now(); });
  EXPECT_TRUE(limiter.Admit("k", "first").pass);
  for (int i = 0; i < 4; ++i) {
    clock.Advance(absl::Seconds(10));
    RepeatLimiter<std::string>::Decision d = limiter.Admit("k", "again");
    EXPECT_FALSE(d.pass) << i;
    EXPECT_TRUE(d.summaries.empty()) << i;
  }
  EXPECT_TRUE(limiter.Admit("other", "x").pass) << "another key is not held back";
  EXPECT_TRUE(limiter.Due().empty()) << "the window is not over yet (40 s)";

  clock.Advance(absl::Seconds(20));  // 60 s after the first
  RepeatLimiter<std::string>::Decision d = limiter.Admit("k", "after the window");
  EXPECT_TRUE(d.pass) << "a new window starts with the next record";
  ASSERT_EQ(d.summaries.size(), 1u);
  EXPECT_EQ(d.summaries[0].first, "first");
  EXPECT_EQ(d.summaries[0].suppressed, 4);
  EXPECT_EQ(d.summaries[0].window, absl::Seconds(60));

  // "other" had no repeats: its window ends without a summary.
  clock.Advance(absl::Seconds(61));
  EXPECT_TRUE(limiter.Due().empty());
  EXPECT_TRUE(limiter.Admit("k", "new").pass);
  EXPECT_FALSE(limiter.Admit("k", "held").pass);
  std::vector<RepeatLimiter<std::string>::Summary> at_exit = limiter.DueAll();
  ASSERT_EQ(at_exit.size(), 1u) << "at exit every pending count is said";
  EXPECT_EQ(at_exit[0].suppressed, 1);
}

TEST(RepeatLimiterTest, AZeroWindowLetsEverythingThroughAndKeysAreBounded) {
  FakeClock clock;
  RepeatLimiter<int> off(absl::ZeroDuration(), [&] { return clock.now(); });
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(off.Admit("k", i).pass);
  }
  RepeatLimiter<int> small(
      absl::Seconds(60), [&] { return clock.now(); }, /*max_keys=*/2);
  EXPECT_TRUE(small.Admit("a", 1).pass);
  EXPECT_TRUE(small.Admit("b", 2).pass);
  EXPECT_TRUE(small.Admit("c", 3).pass);
  EXPECT_TRUE(small.Admit("c", 3).pass) << "past max_keys nothing is tracked, so nothing is lost";
  EXPECT_FALSE(small.Admit("a", 1).pass);
}

TEST(RepeatLimitTest, IdenticalErrorsAreLoggedOnceThenSummedUpWithTheirKeys) {
  testing::LogCapture capture(LogFormat::kJson);
  FakeClock clock;
  SetRepeatLimit(absl::Seconds(60), [&] { return clock.now(); });
  auto failure = [](int64_t latency) {
    return LogRecord("enroll")
        .Uid("uid-1")
        .Pod("shop/web-0")
        .Netns("/run/netns/web-0")
        .Word("result", "UNAVAILABLE")
        .LatencyUs(latency)
        .Error("applying the pod table failed: Device or resource busy");
  };
  for (int i = 0; i < 5; ++i) {
    Log(spdlog::level::warn, failure(100 + i));  // the latency differs: still identical
    clock.Advance(absl::Seconds(1));
  }
  Log(spdlog::level::warn, LogRecord("enroll").Uid("uid-2").Error("another pod"));
  for (int i = 0; i < 3; ++i) {
    Log(spdlog::level::info, LogRecord("enroll").Uid("uid-3").Word("result", "POD_PHASE_APPLIED"));
  }
  std::vector<std::string> records = capture.records();
  ASSERT_EQ(records.size(), 5u) << "1 of uid-1's 5 failures, uid-2's and 3 infos";
  nlohmann::json first = nlohmann::json::parse(records[0]);
  EXPECT_EQ(first["latency_us"], 100);
  EXPECT_EQ(nlohmann::json::parse(records[1])["uid"], "uid-2");

  clock.Advance(absl::Seconds(60));
  FlushRepeatSummaries();
  records = capture.records();
  ASSERT_EQ(records.size(), 6u);
  nlohmann::json summary = nlohmann::json::parse(records[5]);
  EXPECT_EQ(summary["level"], "warning");
  EXPECT_THAT(summary["msg"].get<std::string>(), HasSubstr("suppressed 4 identical"));
  EXPECT_EQ(summary["suppressed"], 4);
  EXPECT_EQ(summary["uid"], "uid-1");
  EXPECT_EQ(summary["pod"], "shop/web-0");
  EXPECT_EQ(summary["netns"], "/run/netns/web-0");
  EXPECT_EQ(summary["error"], "applying the pod table failed: Device or resource busy");
  EXPECT_FALSE(summary.contains("latency_us")) << "a summary has no single latency";

  // After the summary the same failure is news again.
  Log(spdlog::level::warn, failure(7));
  ASSERT_EQ(capture.records().size(), 7u);
}

TEST(RepeatLimitTest, TextRecordsKeepTheirFieldsInOrderAndLatencyInMicroseconds) {
  testing::LogCapture capture;
  Log(spdlog::level::info,
      LogRecord("unenroll").Uid("u\n1").Pod("shop/web-0").Word("result", "REMOVED").LatencyUs(42));
  std::vector<std::string> records = capture.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_THAT(records[0], HasSubstr(" info unenroll uid=\"u\\x0a1\" pod=\"shop/web-0\" "
                                    "result=REMOVED latency=42us\n"));
}

}  // namespace
}  // namespace probesnat::daemon
