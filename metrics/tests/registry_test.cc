// The registry's text exposition: names, escaping, histograms, callbacks, concurrent updates.
#include "metrics/registry.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/text_format.h"

namespace probesnat::metrics {
namespace {

TEST(TextFormat, NamesFollowThePrometheusGrammar) {
  EXPECT_TRUE(IsValidMetricName("probesnat_pods"));
  EXPECT_TRUE(IsValidMetricName("job:rate5m"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_TRUE(IsValidLabelName("phase"));
  EXPECT_TRUE(IsValidLabelName("_p1"));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("9"));
}

TEST(TextFormat, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
  EXPECT_EQ(EscapeLabelValue("µs ok"), "µs ok");
  EXPECT_EQ(EscapeHelp("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
}

TEST(TextFormat, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2), "-2");
  EXPECT_EQ(FormatValue(1e6), "1000000");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(5e-05), "5e-05");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
  EXPECT_EQ(FormatValue(0.1 + 0.2), "0.30000000000000004");
}

TEST(Registry, RendersCountersAndGaugesWithHelpAndType) {
  Registry r;
  absl::StatusOr<Family<Counter>*> failures =
      r.AddCounter("x_failures_total", "Failures by reason.\nSecond line \\ backslash.", {"reason"});
  ASSERT_TRUE(failures.ok());
  (*(*failures)->With({"kernel"}))->Inc();
  (*(*failures)->With({"kernel"}))->Inc(2);
  (*(*failures)->With({"bad \"input\"\n"}))->Inc();
  (*(*failures)->With({"kernel"}))->Inc(-5);  // counters never go down
  absl::StatusOr<Family<Gauge>*> up = r.AddGauge("x_up", "Whether it is up.");
  ASSERT_TRUE(up.ok());
  (*(*up)->With({}))->Set(1);
  EXPECT_EQ(r.Render(),
            "# HELP x_failures_total Failures by reason.\\nSecond line \\\\ backslash.\n"
            "# TYPE x_failures_total counter\n"
            "x_failures_total{reason=\"bad \\\"input\\\"\\n\"} 1\n"
            "x_failures_total{reason=\"kernel\"} 3\n"
            "# HELP x_up Whether it is up.\n"
            "# TYPE x_up gauge\n"
            "x_up 1\n");
}

TEST(Registry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  absl::StatusOr<Family<Histogram>*> h =
      r.AddHistogram("x_seconds", "Latency.", {"op"}, {0.001, 0.01, 0.1});
  ASSERT_TRUE(h.ok());
  Histogram* enroll = *(*h)->With({"enroll"});
  enroll->Observe(0.0005);
  enroll->Observe(0.001);  // on the bound: le="0.001"
  enroll->Observe(0.05);
  enroll->Observe(7);
  EXPECT_EQ(r.Render(),
            "# HELP x_seconds Latency.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{op=\"enroll\",le=\"0.001\"} 2\n"
            "x_seconds_bucket{op=\"enroll\",le=\"0.01\"} 2\n"
            "x_seconds_bucket{op=\"enroll\",le=\"0.1\"} 3\n"
            "x_seconds_bucket{op=\"enroll\",le=\"+Inf\"} 4\n"
            "x_seconds_sum{op=\"enroll\"} 7.0515\n"
            "x_seconds_count{op=\"enroll\"} 4\n");
}

TEST(Registry, UnlabelledHistogramHasItsSeriesFromTheStart) {
  Registry r;
  ASSERT_TRUE(r.AddHistogram("h", "H.", {}, {1}).ok());
  EXPECT_EQ(r.Render(),
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
            "h_sum 0\nh_count 0\n");
}

TEST(Registry, CallbackGaugesAreComputedAtRenderAndMergeDuplicates) {
  Registry r;
  int calls = 0;
  ASSERT_TRUE(r.AddGaugeCallback("x_pods", "Pods by phase.", {"phase"}, [&] {
                 ++calls;
                 return std::vector<GaugeSample>{{{"failed"}, 1}, {{"applied"}, 2},
                                                 {{"applied"}, 3}, {{"a", "b"}, 9}};
               }).ok());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(r.Render(),
            "# HELP x_pods Pods by phase.\n# TYPE x_pods gauge\n"
            "x_pods{phase=\"applied\"} 5\nx_pods{phase=\"failed\"} 1\n");
  EXPECT_EQ(calls, 1);
}

TEST(Registry, RefusesBadNamesClashesAndBounds) {
  Registry r;
  EXPECT_EQ(r.AddCounter("bad-name", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddCounter("ok", "", {"__x"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddCounter("ok", "", {"a", "a"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("h", "", {"le"}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("h", "", {}, {2, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(r.AddHistogram("lat", "", {}, {1}).ok());
  EXPECT_EQ(r.AddCounter("lat", "").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(r.AddGauge("lat_count", "").status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(r.AddGauge("g_sum", "").ok());
  EXPECT_EQ(r.AddHistogram("g", "", {}, {1}).status().code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<Family<Counter>*> c = r.AddCounter("c", "", {"a", "b"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->With({"x"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Registry, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  Family<Histogram>* h = *r.AddHistogram("h", "", {"t"}, {0.5});
  Family<Counter>* c = *r.AddCounter("c", "", {"t"});
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      Histogram* mine = *h->With({"x"});
      for (int i = 0; i < kEach; ++i) {
        mine->Observe(i % 2 == 0 ? 0.25 : 1.0);
        (*c->With({"x"}))->Inc();
        if (i % 1000 == 0) {
          (void)r.Render();  // rendering concurrently with updates is safe
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  Histogram::Snapshot s = (*h->With({"x"}))->Read();
  EXPECT_EQ(s.count, uint64_t{kThreads * kEach});
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads * kEach / 2});
  EXPECT_DOUBLE_EQ(s.sum, kThreads * kEach / 2 * 1.25);
  EXPECT_EQ((*c->With({"x"}))->Value(), kThreads * kEach);
}

}  // namespace
}  // namespace probesnat::metrics
