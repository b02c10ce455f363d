// restart_bench: what durable state (issue 6) costs and buys. N pods are enrolled with the state
// file in place (each Enroll journals the pod before it answers), probesnatd is killed with
// SIGKILL and started again on the same run directory, and the program measures how long the new
// agent takes to serve with all N pods re-adopted, and whether it rewrote any pod table to get
// there (each table's kernel handle before and after: a replaced table gets a new one).
//
//   restart_bench [--pods 1000] [--rounds 3] [--run-dir-parent /tmp] [--probesnatd PATH]
//                 [--daemon-arg ARG ...]
//
// Needs root; every namespace is created under the psnt- prefix and removed again (also on Ctrl-C
// and SIGTERM; leftovers of a killed run are removed at the next start). A program, not a test:
// the figures depend on the machine.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "integration/harness/daemon.h"
#include "integration/harness/enroll_client.h"
#include "integration/harness/http_get.h"
#include "integration/harness/latency_stats.h"
#include "integration/harness/kernel_state.h"
#include "netfilter/testing/scoped_netns.h"

namespace pi = probesnat::integration;
using probesnat::netfilter::testing::ScopedNetns;

namespace {

volatile std::sig_atomic_t interrupted = 0;
void OnSignal(int) { interrupted = 1; }

struct Args {
  int pods = 1000;
  int rounds = 3;
  std::string probesnatd = pi::ProbesnatdPath();
  std::vector<std::string> daemon_args;
  // Where the agent's run directory (socket, state file) is made: a node's /run is a tmpfs,
  // /dev/shm is one here; the default /tmp is this machine's disk.
  std::string run_dir_parent = "/tmp";
};

void PrintRow(const std::string& what, const pi::LatencyStats& s) {
  std::printf("  %-44s p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what.c_str(), s.p50, s.p99,
              s.max);
}

// Every pod namespace's table head, read with two workers (one nft process per namespace).
std::vector<pi::ProbesnatTableHead> ReadHeads(const std::vector<ScopedNetns>& spaces) {
  std::vector<pi::ProbesnatTableHead> heads(spaces.size());
  constexpr size_t kWorkers = 2;
  std::vector<std::thread> workers;
  for (size_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (size_t i = w; i < spaces.size() && !interrupted; i += kWorkers) {
        heads[i] = pi::ReadProbesnatTableHead(spaces[i].name()).value_or(pi::ProbesnatTableHead{});
      }
    });
  }
  for (std::thread& t : workers) {
    t.join();
  }
  return heads;
}

constexpr int kMetricsPort = 9464;

// The durable writes' latency as the agent's histogram probesnat_state_write_duration_seconds
// says: the upper bounds of the buckets holding the median and the 99th percentile, and the mean.
struct WriteCost {
  double count = 0, mean_ms = 0, p50_le_ms = 0, p99_le_ms = 0;
};

absl::StatusOr<WriteCost> StateWriteCost(const std::string& node_netns) {
  const std::string path = "/run/netns/" + node_netns;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("open ", path));
  }
  absl::StatusOr<pi::HttpReply> reply =
      pi::HttpGet(fd, pi::Endpoint{"127.0.0.1", kMetricsPort}, "/metrics");
  ::close(fd);
  if (!reply.ok()) {
    return reply.status();
  }
  const std::string name = "probesnat_state_write_duration_seconds";
  std::vector<std::pair<double, double>> buckets;  // le (s), cumulative count
  WriteCost cost;
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(reply->body, '\n')) {
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
    double value = 0;
    if (words.size() != 2 || !absl::SimpleAtod(words[1], &value)) {
      continue;
    }
    if (absl::StartsWith(words[0], name + "_bucket{le=\"")) {
      absl::string_view le = words[0].substr(name.size() + 12);
      le.remove_suffix(2);
      double bound = 0;
      buckets.emplace_back(absl::SimpleAtod(le, &bound) ? bound : 1e300, value);
    } else if (words[0] == name + "_count") {
      cost.count = value;
    } else if (words[0] == name + "_sum") {
      sum = value;
    }
  }
  if (cost.count == 0 || buckets.empty()) {
    return absl::NotFoundError("the agent recorded no state file write");
  }
  auto bound_of = [&](double q) {
    for (const auto& [le, cumulative] : buckets) {
      if (cumulative >= q * cost.count) {
        return le * 1e3;
      }
    }
    return buckets.back().first * 1e3;
  };
  cost.mean_ms = sum / cost.count * 1e3;
  cost.p50_le_ms = bound_of(0.50);
  cost.p99_le_ms = bound_of(0.99);
  return cost;
}

// When each stage of a start was reached, in ms after the fork.
struct StartTimes {
  double ready_log = -1;     // "probesnatd ready on <socket>" in the log
  double serving = -1;       // grpc.health.v1 SERVING
  double all_applied = -1;   // List: every pod listed and APPLIED
  int listed_at_serving = 0;  // pods the first List after SERVING returned
  int applied_at_serving = 0;
};

// Starts probesnatd and follows it closely (1 ms polls) until every one of `pods` is listed
// APPLIED.
absl::StatusOr<std::unique_ptr<pi::Daemon>> StartAndFollow(const pi::Daemon::Options& base,
                                                           int pods, StartTimes& t) {
  pi::Daemon::Options o = base;
  o.wait_ready = false;
  const absl::Time t0 = absl::Now();
  absl::StatusOr<std::unique_ptr<pi::Daemon>> d = pi::Daemon::Start(o);
  if (!d.ok()) {
    return d.status();
  }
  auto since = [&] { return absl::ToDoubleMilliseconds(absl::Now() - t0); };
  const absl::Time deadline = t0 + absl::Seconds(60);
  const std::string ready = absl::StrCat("probesnatd ready on ", (*d)->socket_path());
  while (!absl::StrContains((*d)->Log(), ready)) {
    if (!(*d)->Running() || absl::Now() > deadline || interrupted) {
      return absl::InternalError(absl::StrCat("probesnatd did not start:\n", (*d)->Log()));
    }
    ::usleep(1000);
  }
  t.ready_log = since();
  auto channel =
      grpc::CreateChannel("unix:" + (*d)->socket_path(), grpc::InsecureChannelCredentials());
  while (pi::HealthCheck(channel, absl::Seconds(1)).value_or(0) != 1) {
    if (!(*d)->Running() || absl::Now() > deadline || interrupted) {
      return absl::InternalError(absl::StrCat("probesnatd never SERVING:\n", (*d)->Log()));
    }
    ::usleep(1000);
  }
  t.serving = since();
  auto stub = probesnat::v1::Enrollment::NewStub(channel);
  for (bool first = true;; first = false) {
    probesnat::v1::ListResponse list;
    grpc::Status st = pi::List(*stub, &list, absl::Seconds(30));
    if (!st.ok()) {
      return absl::InternalError(absl::StrCat("List: ", pi::Describe(st)));
    }
    int applied = 0;
    for (const probesnat::v1::PodStatus& s : list.pods()) {
      applied += s.phase() == probesnat::v1::POD_PHASE_APPLIED ? 1 : 0;
    }
    if (first) {
      t.listed_at_serving = list.pods_size();
      t.applied_at_serving = applied;
    }
    if (applied == pods) {
      break;
    }
    if (absl::Now() > deadline || interrupted) {
      return absl::DeadlineExceededError(
          absl::StrCat(applied, " of ", pods, " pods APPLIED after 60 s (", list.pods_size(),
                       " listed)"));
    }
    ::usleep(1000);
  }
  t.all_applied = since();
  // The harness's own readiness (its channel) for the calls that follow.
  if (absl::Status st = (*d)->WaitReady(absl::Seconds(10)); !st.ok()) {
    return st;
  }
  return d;
}

int Run(const Args& args) {
  const int n = args.pods;
  const absl::Time setup_start = absl::Now();
  absl::StatusOr<ScopedNetns> node = ScopedNetns::Create("rbnode");
  if (!node.ok()) {
    std::fprintf(stderr, "restart_bench: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::vector<ScopedNetns> spaces;
  std::vector<probesnat::v1::Pod> specs;
  for (int i = 0; i < n && !interrupted; ++i) {
    absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create(absl::StrCat("rb", i));
    if (!ns.ok()) {
      std::fprintf(stderr, "restart_bench: %s\n", ns.status().ToString().c_str());
      return 1;
    }
    specs.push_back(pi::MakePod(absl::StrCat("4e57a47e-", absl::Hex(i, absl::kZeroPad4),
                                             "-4000-8000-000000000000"),
                                {absl::StrCat("10.249.", i / 250, ".", i % 250 + 1),
                                 absl::StrCat("fd00:249::", absl::Hex(i + 1))},
                                ns->path(), absl::StrCat("restart-", i)));
    spaces.push_back(std::move(*ns));
  }
  if (interrupted) {
    return 1;
  }
  std::printf("  setup: %d namespaces in %.1f s\n", n + 1,
              absl::ToDoubleSeconds(absl::Now() - setup_start));

  std::string tmpl = args.run_dir_parent + "/psnt-rbench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "restart_bench: cannot create a directory under %s\n",
                 args.run_dir_parent.c_str());
    return 1;
  }
  const std::string run_dir = tmpl;
  const std::string state = run_dir + "/state";
  pi::Daemon::Options o;
  o.binary = args.probesnatd;
  o.node_netns = node->name();
  o.socket_path = run_dir + "/probesnatd.sock";
  o.args = {"--allowed-netns-root", "/run/netns", "--state-file", state, "--metrics-listen",
            absl::StrCat("127.0.0.1:", kMetricsPort)};
  o.args.insert(o.args.end(), args.daemon_args.begin(), args.daemon_args.end());
  auto cleanup = [&] { (void)probesnat::netfilter::testing::Run("rm -rf " + run_dir); };

  StartTimes empty_start;
  absl::StatusOr<std::unique_ptr<pi::Daemon>> daemon = StartAndFollow(o, 0, empty_start);
  if (!daemon.ok()) {
    std::fprintf(stderr, "restart_bench: %s\n", daemon.status().ToString().c_str());
    cleanup();
    return 1;
  }
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub = (*daemon)->Enrollment();
  probesnat::v1::ListResponse warm;
  (void)pi::List(*stub, &warm);
  std::vector<double> enroll_ms;
  for (const probesnat::v1::Pod& pod : specs) {
    if (interrupted) {
      cleanup();
      return 1;
    }
    const absl::Time t0 = absl::Now();
    grpc::Status st = pi::Enroll(*stub, pod);
    enroll_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (!st.ok()) {
      std::fprintf(stderr, "restart_bench: Enroll %s: %s\n", pod.uid().c_str(),
                   pi::Describe(st).c_str());
      cleanup();
      return 1;
    }
  }
  struct stat st_state {};
  const long state_bytes = ::stat(state.c_str(), &st_state) == 0 ? st_state.st_size : -1;
  std::printf("  %-44s %.1f ms to SERVING\n", "first start (no state file)", empty_start.serving);
  PrintRow(absl::StrCat("Enroll with durable state (gRPC, ", n, " pods)"), pi::Summarize(enroll_ms));
  const std::vector<double> server = pi::LoggedLatenciesMs((*daemon)->Log(), " enroll uid=");
  if (!server.empty()) {
    PrintRow("  of which inside probesnatd (log latency=)", pi::Summarize(server));
  }
  std::printf("  %-44s %ld bytes after %d Enrolls (%.0f bytes per pod)\n", "state file", state_bytes,
              n, state_bytes > 0 ? static_cast<double>(state_bytes) / n : 0.0);
  absl::StatusOr<WriteCost> write_cost = StateWriteCost(node->name());
  if (write_cost.ok()) {
    std::printf("  %-44s %.0f writes: mean %.3f ms, p50 <= %.3f ms, p99 <= %.3f ms (histogram)\n",
                "  of which the durable write (state file)", write_cost->count,
                write_cost->mean_ms, write_cost->p50_le_ms, write_cost->p99_le_ms);
  } else {
    std::fprintf(stderr, "restart_bench: state write cost: %s\n",
                 write_cost.status().ToString().c_str());
  }
  std::fflush(stdout);

  const std::vector<pi::ProbesnatTableHead> before = ReadHeads(spaces);
  int without_table = 0;
  for (const pi::ProbesnatTableHead& h : before) {
    without_table += h.present ? 0 : 1;
  }
  if (without_table > 0) {
    std::fprintf(stderr, "restart_bench: %d enrolled pods have no table\n", without_table);
  }

  int rc = 0;
  std::vector<double> serving_ms, applied_ms;
  for (int round = 0; round < args.rounds && !interrupted; ++round) {
    absl::StatusOr<int> killed = (*daemon)->Stop(SIGKILL);
    (void)killed;
    stub.reset();
    daemon->reset();
    StartTimes t;
    daemon = StartAndFollow(o, n, t);
    if (!daemon.ok()) {
      std::fprintf(stderr, "restart_bench: restart %d: %s\n", round + 1,
                   daemon.status().ToString().c_str());
      cleanup();
      return 1;
    }
    stub = (*daemon)->Enrollment();
    const std::vector<pi::ProbesnatTableHead> after = ReadHeads(spaces);
    int rewritten = 0, missing = 0, other_owner = 0;
    for (size_t i = 0; i < after.size(); ++i) {
      if (!after[i].present) {
        ++missing;
      } else if (after[i].handle != before[i].handle) {
        ++rewritten;
      }
      if (after[i].comment != before[i].comment) {
        ++other_owner;
      }
    }
    absl::StatusOr<std::map<std::string, std::string>> members =
        pi::ProbesnatHostMembers(node->name());
    const size_t member_count = members.ok() ? members->size() : 0;
    std::printf(
        "  kill -9, start %d: %s %.1f ms, SERVING %.1f ms (%d listed, %d APPLIED then), all %d "
        "APPLIED %.1f ms; pod tables rewritten %d, missing %d, owner changed %d; host members "
        "%zu\n",
        round + 1, "ready log", t.ready_log, t.serving, t.listed_at_serving, t.applied_at_serving,
        n, t.all_applied, rewritten, missing, other_owner, member_count);
    std::fflush(stdout);
    serving_ms.push_back(t.serving);
    applied_ms.push_back(t.all_applied);
    rc |= (missing > 0 || member_count != 2u * static_cast<size_t>(n)) ? 1 : 0;
  }
  if (!serving_ms.empty()) {
    PrintRow("restart to SERVING", pi::Summarize(serving_ms));
    PrintRow(absl::StrCat("restart to all ", n, " listed APPLIED"), pi::Summarize(applied_ms));
    std::printf("  %-44s < 1 s to SERVING with all re-adopted: %s\n", "target",
                pi::Summarize(applied_ms).max < 1000 ? "met" : "NOT met");
  }

  // The first Enroll after the restart, and Unenroll (which journals the removal).
  std::vector<double> unenroll_ms;
  for (const probesnat::v1::Pod& pod : specs) {
    if (interrupted || stub == nullptr) {
      break;
    }
    const absl::Time t0 = absl::Now();
    probesnat::v1::UnenrollResponse resp;
    grpc::Status st = pi::Unenroll(*stub, pod.uid(), &resp);
    unenroll_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (!st.ok() || !resp.was_enrolled()) {
      std::fprintf(stderr, "restart_bench: Unenroll %s after the restart: %s was_enrolled=%d\n",
                   pod.uid().c_str(), pi::Describe(st).c_str(), resp.was_enrolled());
      rc = 1;
      break;
    }
  }
  PrintRow("Unenroll after the restart (gRPC)", pi::Summarize(unenroll_ms));
  if (write_cost.ok()) {
    std::printf("  %-44s durable write p99 < 1 ms: %s\n", "target",
                write_cost->p99_le_ms < 1.0 ? "met" : "NOT met");
  }
  std::fflush(stdout);
  stub.reset();
  daemon->reset();
  cleanup();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--pods" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &args.pods) || args.pods < 1 || args.pods > 60000) {
        std::fprintf(stderr, "restart_bench: bad --pods value\n");
        return 2;
      }
    } else if (arg == "--rounds" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &args.rounds) || args.rounds < 1) {
        std::fprintf(stderr, "restart_bench: bad --rounds value\n");
        return 2;
      }
    } else if (arg == "--run-dir-parent" && i + 1 < argc) {
      args.run_dir_parent = argv[++i];
    } else if (arg == "--probesnatd" && i + 1 < argc) {
      args.probesnatd = argv[++i];
    } else if (arg == "--daemon-arg" && i + 1 < argc) {
      args.daemon_args.push_back(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: restart_bench [--pods 1000] [--rounds 3] [--run-dir-parent DIR] [--probesnatd PATH] "
                   "[--daemon-arg ARG ...]\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "restart_bench: needs root (creates network namespaces)\n");
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
  std::printf("restart_bench: kernel %s, %ld CPUs, probesnatd %s, %d pods, %d rounds\n", u.release,
              ::sysconf(_SC_NPROCESSORS_ONLN), args.probesnatd.c_str(), args.pods, args.rounds);
  std::fflush(stdout);
  const int rc = Run(args);
  if (interrupted) {
    std::fprintf(stderr, "restart_bench: interrupted; namespaces removed\n");
  }
  return rc;
}
