// list_during_sync_bench: how long a List takes while probesnatd runs a large Sync, compared with
// the same List when the agent is idle.
//
//   list_during_sync_bench [--pods 1000] [--rounds 1] [--probesnatd PATH] [--gap-ms 1]
//                          [--idle-lists 200] [--daemon-arg ARG ...]
//
// Creates N pod namespaces and a node namespace, starts probesnatd in the node namespace, then per
// round, with a reader on its own connection calling List in a loop (--gap-ms between calls):
//   sync-enroll  one Sync of the N pods (none enrolled before);
//   idle         --idle-lists calls with the N pods enrolled and nothing else running;
//   sync-remove  one Sync to the empty set (removes the N pods).
// A List counts for a phase when it started while that phase ran. Prints, per phase, the List
// round-trip p50/p99/max and the Lists that took more than 10x the idle p50 of the same round
// ("reader stalled"), as a share of the calls and of the phase's time. Every namespace is
// removed again, also when a step fails, on Ctrl-C and on SIGTERM. Needs root. A program, not a
// test: the figures depend on the machine.
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "integration/harness/daemon.h"
#include "integration/harness/enroll_client.h"
#include "netfilter/testing/scoped_netns.h"

namespace pi = probesnat::integration;
using probesnat::netfilter::testing::ScopedNetns;

namespace {

// Set by SIGINT/SIGTERM: every loop stops and returns, so that the destructors remove the
// namespaces and stop the agent. (While system() runs an `ip` command, SIGINT is ignored here; a
// Ctrl-C then ends that command, whose failure ends the run the same way.)
volatile std::sig_atomic_t interrupted = 0;

void OnSignal(int) { interrupted = 1; }

// A Sync of 1,000 pods or a List queued behind one takes seconds; none of them should hit a
// deadline in a benchmark that wants to see how long they take.
constexpr absl::Duration kCallTimeout = absl::Minutes(10);

// 10x the idle p50: a List that slow waited for something else.
constexpr double kStallFactor = 10.0;

struct Sample {
  absl::Time start;
  double ms = 0;
  bool ok = false;
  absl::Time phase_end = absl::InfiniteFuture();  // the end of the phase it started in
};

struct Figures {
  size_t calls = 0, failed = 0, stalled = 0;
  double p50 = 0, p99 = 0, max = 0;  // milliseconds
  double stalled_ms = 0;             // time the stalled calls spent inside their phase
};

double Rank(const std::vector<double>& sorted, double q) {
  size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  return sorted[std::min(sorted.size(), std::max<size_t>(i, 1)) - 1];
}

// The samples that started in [from, to); `stall_ms` <= 0: no stall count.
Figures Summarize(const std::vector<Sample>& samples, absl::Time from, absl::Time to,
                  double stall_ms) {
  Figures f;
  std::vector<double> ms;
  for (const Sample& s : samples) {
    if (s.start < from || s.start >= to) {
      continue;
    }
    ++f.calls;
    if (!s.ok) {
      ++f.failed;
      continue;
    }
    ms.push_back(s.ms);
    if (stall_ms > 0 && s.ms > stall_ms) {
      ++f.stalled;
      const absl::Time end = std::min({s.start + absl::Milliseconds(s.ms), to, s.phase_end});
      f.stalled_ms += absl::ToDoubleMilliseconds(end - s.start);
    }
  }
  if (ms.empty()) {
    return f;
  }
  std::sort(ms.begin(), ms.end());
  f.p50 = Rank(ms, 0.50);
  f.p99 = Rank(ms, 0.99);
  f.max = ms.back();
  return f;
}

// `phase_ms`: how long the phase (or the phases summarized) lasted.
void PrintFigures(const std::string& what, const Figures& f, double stall_ms, double phase_ms) {
  std::printf(
      "  %-34s List p50 %9.3f ms  p99 %9.3f ms  max %9.3f ms  calls %5zu  failed %zu  "
      "stalled (> %.1f ms) %5.1f%% of calls, %5.1f%% of the time\n",
      what.c_str(), f.p50, f.p99, f.max, f.calls, f.failed, stall_ms,
      f.calls == 0 ? 0.0 : 100.0 * static_cast<double>(f.stalled) / static_cast<double>(f.calls),
      phase_ms <= 0 ? 0.0 : 100.0 * f.stalled_ms / phase_ms);
}

// Calls List on its own channel, one call after another with `gap` between them, until stopped.
class ListReader {
 public:
  ListReader(const std::string& socket_path, absl::Duration gap)
      : stub_(probesnat::v1::Enrollment::NewStub(
            grpc::CreateChannel("unix:" + socket_path, grpc::InsecureChannelCredentials()))),
        gap_(gap) {}

  void Start() {
    stop_ = false;
    thread_ = std::thread([this] { Loop(); });
  }
  // Waits for the call in flight; returns every sample since Start.
  std::vector<Sample> Stop() {
    stop_ = true;
    thread_.join();
    return std::move(samples_);
  }
  // One List on the reader's connection (warms it up).
  bool Once() {
    probesnat::v1::ListResponse list;
    return pi::List(*stub_, &list, kCallTimeout).ok();
  }

 private:
  void Loop() {
    while (!stop_ && !interrupted) {
      probesnat::v1::ListResponse list;
      Sample s;
      s.start = absl::Now();
      s.ok = pi::List(*stub_, &list, kCallTimeout).ok();
      s.ms = absl::ToDoubleMilliseconds(absl::Now() - s.start);
      samples_.push_back(s);
      absl::SleepFor(gap_);
    }
  }

  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub_;
  absl::Duration gap_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<Sample> samples_;  // written by the thread only until Stop joins it
};

struct PhaseResult {
  std::vector<Sample> samples;
  absl::Time from, to;
};

// Runs one Sync to `pods` while the reader calls List; fails unless the Sync answers OK with
// `expect_statuses` statuses and `expect_removed` removals.
bool SyncWhileListing(probesnat::v1::Enrollment::Stub& stub, ListReader& reader,
                      const std::vector<probesnat::v1::Pod>& pods, size_t expect_removed,
                      PhaseResult* out, double* sync_ms) {
  reader.Start();
  absl::SleepFor(absl::Milliseconds(50));  // the reader is in its loop before the Sync starts
  probesnat::v1::SyncResponse response;
  out->from = absl::Now();
  grpc::Status st = pi::Sync(stub, pods, &response, kCallTimeout);
  out->to = absl::Now();
  out->samples = reader.Stop();
  *sync_ms = absl::ToDoubleMilliseconds(out->to - out->from);
  if (!st.ok()) {
    std::fprintf(stderr, "list_during_sync_bench: Sync of %zu pods: %s\n", pods.size(),
                 pi::Describe(st).c_str());
    return false;
  }
  size_t applied = 0;
  for (const probesnat::v1::PodStatus& s : response.statuses()) {
    applied += s.phase() == probesnat::v1::POD_PHASE_APPLIED;
  }
  if (applied != pods.size() ||
      static_cast<size_t>(response.removed_uids_size()) != expect_removed) {
    std::fprintf(stderr,
                 "list_during_sync_bench: Sync of %zu pods: %zu applied, %d removed (expected %zu "
                 "applied, %zu removed)\n",
                 pods.size(), applied, response.removed_uids_size(), pods.size(), expect_removed);
    return false;
  }
  return true;
}

struct Args {
  int pods = 1000;
  int rounds = 1;
  int idle_lists = 200;
  absl::Duration gap = absl::Milliseconds(1);
  std::string probesnatd = pi::ProbesnatdPath();
  std::vector<std::string> daemon_args;
};

int Run(const Args& args) {
  const absl::Time setup_start = absl::Now();
  absl::StatusOr<ScopedNetns> node = ScopedNetns::Create("lnode");
  if (!node.ok()) {
    std::fprintf(stderr, "list_during_sync_bench: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::vector<ScopedNetns> namespaces;
  std::vector<probesnat::v1::Pod> pods;
  for (int i = 0; i < args.pods; ++i) {
    if (interrupted) {
      return 1;
    }
    absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create(absl::StrCat("lp", i));
    if (!ns.ok()) {
      std::fprintf(stderr, "list_during_sync_bench: %s\n", ns.status().ToString().c_str());
      return 1;
    }
    const std::string v4 = absl::StrCat("10.248.", i / 250, ".", i % 250 + 1);
    const std::string v6 = absl::StrCat("fd00:248::", absl::Hex(i + 1));
    pods.push_back(pi::MakePod(absl::StrCat("lsync-", i, "-0000-4000-8000-000000000000"), {v4, v6},
                               ns->path(), absl::StrCat("lsync-", i)));
    namespaces.push_back(std::move(*ns));
  }
  std::printf("  setup: %d namespaces in %.1f s\n", args.pods + 1,
              absl::ToDoubleSeconds(absl::Now() - setup_start));

  pi::Daemon::Options o;
  o.binary = args.probesnatd;
  o.node_netns = node->name();
  o.args = {"--allowed-netns-root", "/run/netns"};
  o.args.insert(o.args.end(), args.daemon_args.begin(), args.daemon_args.end());
  absl::StatusOr<std::unique_ptr<pi::Daemon>> daemon = pi::Daemon::Start(o);
  if (!daemon.ok()) {
    std::fprintf(stderr, "list_during_sync_bench: %s\n", daemon.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub = (*daemon)->Enrollment();
  ListReader reader((*daemon)->socket_path(), args.gap);
  if (!reader.Once()) {
    std::fprintf(stderr, "list_during_sync_bench: first List failed\n");
    return 1;
  }

  std::vector<Sample> all_enroll, all_idle, all_remove;
  double enroll_total_ms = 0, idle_total_ms = 0, remove_total_ms = 0;
  for (int round = 1; round <= args.rounds && !interrupted; ++round) {
    PhaseResult enroll, idle, remove;
    double enroll_sync_ms = 0, remove_sync_ms = 0;
    if (!SyncWhileListing(*stub, reader, pods, 0, &enroll, &enroll_sync_ms)) {
      return 1;
    }
    idle.from = absl::Now();
    for (int i = 0; i < args.idle_lists && !interrupted; ++i) {
      probesnat::v1::ListResponse list;
      Sample s;
      s.start = absl::Now();
      grpc::Status st = pi::List(*stub, &list, kCallTimeout);
      s.ms = absl::ToDoubleMilliseconds(absl::Now() - s.start);
      s.ok = st.ok() && list.pods_size() == args.pods;
      idle.samples.push_back(s);
      absl::SleepFor(args.gap);
    }
    idle.to = absl::Now();
    if (!SyncWhileListing(*stub, reader, {}, pods.size(), &remove, &remove_sync_ms)) {
      return 1;
    }
    if (interrupted) {
      return 1;
    }
    const Figures idle_f = Summarize(idle.samples, idle.from, idle.to, 0);
    const double stall_ms = kStallFactor * idle_f.p50;
    std::printf("round %d (%d pods)\n", round, args.pods);
    const double idle_ms = absl::ToDoubleMilliseconds(idle.to - idle.from);
    PrintFigures("idle, N enrolled", Summarize(idle.samples, idle.from, idle.to, stall_ms),
                 stall_ms, idle_ms);
    PrintFigures(
        absl::StrCat("during Sync enrolling N (", static_cast<int>(enroll_sync_ms), " ms)"),
        Summarize(enroll.samples, enroll.from, enroll.to, stall_ms), stall_ms, enroll_sync_ms);
    PrintFigures(absl::StrCat("during Sync removing N (", static_cast<int>(remove_sync_ms), " ms)"),
                 Summarize(remove.samples, remove.from, remove.to, stall_ms), stall_ms,
                 remove_sync_ms);
    enroll_total_ms += enroll_sync_ms;
    idle_total_ms += idle_ms;
    remove_total_ms += remove_sync_ms;
    std::fflush(stdout);
    auto keep = [](const PhaseResult& p, std::vector<Sample>& all) {
      for (const Sample& s : p.samples) {
        if (s.start >= p.from && s.start < p.to) {
          all.push_back(s);
          all.back().phase_end = p.to;
        }
      }
    };
    keep(enroll, all_enroll);
    keep(idle, all_idle);
    keep(remove, all_remove);
  }
  if (args.rounds > 1) {
    const Figures idle_f = Summarize(all_idle, absl::InfinitePast(), absl::InfiniteFuture(), 0);
    const double stall_ms = kStallFactor * idle_f.p50;
    std::printf("all %d rounds\n", args.rounds);
    PrintFigures("idle, N enrolled",
                 Summarize(all_idle, absl::InfinitePast(), absl::InfiniteFuture(), stall_ms),
                 stall_ms, idle_total_ms);
    PrintFigures("during Sync enrolling N",
                 Summarize(all_enroll, absl::InfinitePast(), absl::InfiniteFuture(), stall_ms),
                 stall_ms, enroll_total_ms);
    PrintFigures("during Sync removing N",
                 Summarize(all_remove, absl::InfinitePast(), absl::InfiniteFuture(), stall_ms),
                 stall_ms, remove_total_ms);
  }
  return interrupted ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    int n = 0;
    if (arg == "--pods" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &n) && n >= 1 &&
        n <= 60000) {
      args.pods = n;
      ++i;
    } else if (arg == "--rounds" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &n) && n >= 1) {
      args.rounds = n;
      ++i;
    } else if (arg == "--idle-lists" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &n) &&
               n >= 1) {
      args.idle_lists = n;
      ++i;
    } else if (arg == "--gap-ms" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &n) && n >= 0) {
      args.gap = absl::Milliseconds(n);
      ++i;
    } else if (arg == "--probesnatd" && i + 1 < argc) {
      args.probesnatd = argv[++i];
    } else if (arg == "--daemon-arg" && i + 1 < argc) {
      args.daemon_args.push_back(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: list_during_sync_bench [--pods 1000] [--rounds 1] [--probesnatd PATH] "
                   "[--gap-ms 1] [--idle-lists 200] [--daemon-arg ARG ...]\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "list_during_sync_bench: needs root (creates network namespaces)\n");
    return 2;
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESETHAND;  // a second signal ends the program at once
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ScopedNetns::RemoveStale();
  utsname u{};
  ::uname(&u);
  std::printf("list_during_sync_bench: kernel %s, %ld CPUs, probesnatd %s, %d pods, %d rounds\n",
              u.release, ::sysconf(_SC_NPROCESSORS_ONLN), args.probesnatd.c_str(), args.pods,
              args.rounds);
  std::fflush(stdout);
  const int rc = Run(args);
  if (interrupted) {
    std::fprintf(stderr, "list_during_sync_bench: interrupted; namespaces removed\n");
  }
  return rc;
}
