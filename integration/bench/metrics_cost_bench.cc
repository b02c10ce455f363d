// metrics_cost_bench: what the Prometheus metrics cost on the enroll path (issue 8). In one run,
// on the same N pod namespaces, probesnatd is started alternately without and with
// --metrics-listen (and scraped every 100 ms while it works, as a Prometheus would, far more often
// than one does); each round enrolls and unenrolls every pod. Prints Enroll p50/p99 over gRPC and
// inside the agent (its log's latency=) for both, and the difference.
//
//   metrics_cost_bench [--pods 500] [--rounds 4] [--probesnatd PATH]
//
// Needs root; every namespace is created under the psnt- prefix and removed again. A program, not
// a test: the figures depend on the machine.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "integration/harness/bench_pods.h"
#include "integration/harness/daemon.h"
#include "integration/harness/enroll_client.h"
#include "integration/harness/http_get.h"
#include "integration/harness/latency_stats.h"

namespace pi = probesnat::integration;
using probesnat::netfilter::testing::ScopedNetns;

namespace {

constexpr int kMetricsPort = 9464;

struct Samples {
  std::vector<double> grpc_ms, agent_ms;
  int scrapes = 0;
};

// One round: a fresh agent (metrics on or off), every pod enrolled then unenrolled.
absl::Status Round(const std::string& probesnatd, const ScopedNetns& node,
                   const std::vector<probesnat::v1::Pod>& specs, bool metrics, Samples& out) {
  pi::Daemon::Options o;
  o.binary = probesnatd;
  o.node_netns = node.name();
  o.args = {"--allowed-netns-root", "/run/netns"};
  if (metrics) {
    o.args.push_back("--metrics-listen");
    o.args.push_back(absl::StrCat("127.0.0.1:", kMetricsPort));
  }
  absl::StatusOr<std::unique_ptr<pi::Daemon>> daemon = pi::Daemon::Start(o);
  if (!daemon.ok()) {
    return daemon.status();
  }
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub = (*daemon)->Enrollment();
  probesnat::v1::ListResponse warm;
  (void)pi::List(*stub, &warm);

  std::atomic<bool> done = false;
  std::thread scraper;
  if (metrics) {
    const int fd = ::open(node.path().c_str(), O_RDONLY | O_CLOEXEC);
    scraper = std::thread([&out, &done, fd] {
      while (!done) {
        if (pi::HttpGet(fd, pi::Endpoint{"127.0.0.1", kMetricsPort}, "/metrics").ok()) {
          ++out.scrapes;
        }
        absl::SleepFor(absl::Milliseconds(100));
      }
      ::close(fd);
    });
  }
  absl::Status result;
  for (const probesnat::v1::Pod& pod : specs) {
    const absl::Time t0 = absl::Now();
    grpc::Status st = pi::Enroll(*stub, pod);
    out.grpc_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (!st.ok()) {
      result = absl::InternalError(absl::StrCat("Enroll ", pod.uid(), ": ", pi::Describe(st)));
      break;
    }
  }
  for (const probesnat::v1::Pod& pod : specs) {
    probesnat::v1::UnenrollResponse resp;
    (void)pi::Unenroll(*stub, pod.uid(), &resp);
  }
  done = true;
  if (scraper.joinable()) {
    scraper.join();
  }
  const std::vector<double> agent = pi::LoggedLatenciesMs((*daemon)->Log(), " enroll uid=");
  out.agent_ms.insert(out.agent_ms.end(), agent.begin(), agent.end());
  return result;
}

void Print(const char* what, const pi::LatencyStats& s) {
  std::printf("  %-40s p50 %7.3f ms  p99 %7.3f ms  (n=%zu)\n", what, s.p50, s.p99, s.count);
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 500, rounds = 4;
  std::string probesnatd = pi::ProbesnatdPath();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pods" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &pods) && pods > 0) {
      ++i;
    } else if (a == "--rounds" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &rounds) &&
               rounds > 0) {
      ++i;
    } else if (a == "--probesnatd" && i + 1 < argc) {
      probesnatd = argv[++i];
    } else {
      std::fprintf(stderr, "usage: metrics_cost_bench [--pods 500] [--rounds 4] [--probesnatd PATH]\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "metrics_cost_bench: needs root (creates network namespaces)\n");
    return 2;
  }
  ScopedNetns::RemoveStale();
  absl::StatusOr<ScopedNetns> node = ScopedNetns::Create("mcnode");
  absl::StatusOr<pi::BenchPods> bench =
      node.ok() ? pi::CreateBenchPods(pods, "mc", 247) : absl::StatusOr<pi::BenchPods>(node.status());
  if (!bench.ok()) {
    std::fprintf(stderr, "metrics_cost_bench: %s\n", bench.status().ToString().c_str());
    return 1;
  }
  std::printf("metrics_cost_bench: %d pods, %d rounds each with metrics off and on (alternating)\n",
              pods, rounds);
  Samples off, on;
  for (int r = 0; r < rounds; ++r) {
    // Alternate which goes first so that a slow start of the machine weighs on both.
    for (bool metrics : r % 2 == 0 ? std::vector<bool>{false, true} : std::vector<bool>{true, false}) {
      if (absl::Status st = Round(probesnatd, *node, bench->specs, metrics, metrics ? on : off);
          !st.ok()) {
        std::fprintf(stderr, "metrics_cost_bench: %s\n", st.ToString().c_str());
        return 1;
      }
    }
  }
  const pi::LatencyStats g_off = pi::Summarize(off.grpc_ms), g_on = pi::Summarize(on.grpc_ms);
  const pi::LatencyStats a_off = pi::Summarize(off.agent_ms), a_on = pi::Summarize(on.agent_ms);
  Print("Enroll, metrics off (gRPC)", g_off);
  Print("Enroll, metrics on  (gRPC)", g_on);
  Print("Enroll, metrics off (inside the agent)", a_off);
  Print("Enroll, metrics on  (inside the agent)", a_on);
  std::printf("  %-40s %d scrapes of /metrics during the rounds with metrics on\n", "scrapes",
              on.scrapes);
  std::printf("  %-40s p50 %+7.3f ms  p99 %+7.3f ms (inside the agent)\n", "metrics on - off",
              a_on.p50 - a_off.p50, a_on.p99 - a_off.p99);
  return 0;
}
