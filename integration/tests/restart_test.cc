// Durable state across restarts (issue 6): probesnatd journals the desired pods in its state file
// (--state-file, default <socket directory>/state) and, started again on the same run directory
// after SIGTERM or kill -9, shows them at once without any Sync, re-adopts the kernel state it owns
// (host set members carry their pod's uid, pod tables "probesnat pod <uid> generation <n>"),
// removes what nobody owns and survives a damaged state file.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/client_context.h"
#include "integration/tests/test_support.h"
#include "netfilter/rules_spec.h"

namespace probesnat::integration {
namespace {

using probesnat::v1::PodStatus;
using PodMap = std::map<std::string, PodStatus>;  // uid -> status, as List answers

// What one enrolled pod must look like in the kernel.
struct KernelPod {
  std::vector<std::string> ips;
  std::string ns;  // name of its network namespace under /run/netns
  uint64_t generation = 0;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string PhaseName(probesnat::v1::PodPhase phase) { return probesnat::v1::PodPhase_Name(phase); }

// "uid:PHASE(reason)" for each pod, for failure messages.
std::string DescribePods(const PodMap& pods) {
  std::vector<std::string> parts;
  for (const auto& [uid, status] : pods) {
    parts.push_back(absl::StrCat(uid, ":", PhaseName(status.phase()),
                                 status.reason().empty() ? "" : "(" + status.reason() + ")"));
  }
  return parts.empty() ? "(none)" : absl::StrJoin(parts, ", ");
}

template <typename F>
bool Eventually(F done, absl::Duration limit, absl::Duration step = absl::Milliseconds(50)) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (done()) {
      return true;
    }
    absl::SleepFor(step);
  }
  return done();
}

// The differences between the kernel and `pods` (uid -> what it must hold): the host sets of
// `node` hold exactly the pods' addresses, each owned by its pod; every namespace in `namespaces`
// holds a pod table exactly when an enrolled pod lives there, owned by that pod at its generation.
// The pod tables read on the way go to `tables` (namespace -> `nft -a list` text) when given.
std::vector<std::string> KernelMismatches(const std::string& node,
                                          const std::map<std::string, KernelPod>& pods,
                                          const std::vector<std::string>& namespaces,
                                          std::map<std::string, std::string>* tables = nullptr) {
  std::vector<std::string> problems;
  std::map<std::string, std::string> want_members;
  std::map<std::string, std::string> owner_of_ns;
  for (const auto& [uid, pod] : pods) {
    for (const std::string& ip : pod.ips) {
      want_members[ip] = uid;
    }
    owner_of_ns[pod.ns] = uid;
  }
  absl::StatusOr<std::map<std::string, std::string>> members = ProbesnatHostMembers(node);
  if (!members.ok()) {
    problems.push_back(absl::StrCat("host members: ", members.status().ToString()));
  } else {
    for (const auto& [ip, uid] : want_members) {
      auto it = members->find(ip);
      if (it == members->end()) {
        problems.push_back(absl::StrCat("host set lacks ", ip, " of ", uid));
      } else if (it->second != uid) {
        problems.push_back(
            absl::StrCat("host member ", ip, " is owned by \"", it->second, "\", not ", uid));
      }
    }
    for (const auto& [ip, owner] : *members) {
      if (!want_members.count(ip)) {
        problems.push_back(
            absl::StrCat("host set holds ", ip, " (owner \"", owner, "\") of no enrolled pod"));
      }
    }
  }
  for (const std::string& ns : namespaces) {
    absl::StatusOr<std::string> text = ProbesnatTableTextWithHandles(ns);
    if (!text.ok()) {
      problems.push_back(absl::StrCat(ns, ": ", text.status().ToString()));
      continue;
    }
    if (tables != nullptr) {
      (*tables)[ns] = *text;
    }
    const ProbesnatTableHead head_value = ParseTableHead(*text);
    const ProbesnatTableHead* head = &head_value;
    auto owner = owner_of_ns.find(ns);
    if (owner == owner_of_ns.end()) {
      if (head->present) {
        problems.push_back(absl::StrCat(ns, " holds a pod table (\"", head->comment,
                                        "\") but no enrolled pod lives there"));
      }
      continue;
    }
    const std::string want = PodTableComment(owner->second, pods.at(owner->second).generation);
    if (!head->present) {
      problems.push_back(absl::StrCat(ns, " has no pod table for enrolled ", owner->second));
    } else if (head->comment != want) {
      problems.push_back(absl::StrCat(ns, ": pod table comment \"", head->comment,
                                      "\", want \"", want, "\""));
    }
  }
  return problems;
}

// probesnatd on a run directory the test owns, so that the socket and the state file outlive each
// Daemon (whose own directory, with its log, goes with it). The last daemons' logs are kept and
// printed when the test fails.
class RestartTest : public AgentBinaryTest {
 protected:
  void SetUp() override {
    AgentBinaryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    run_dir_ = std::make_unique<ScopedDir>("psnt-run");
    ASSERT_FALSE(run_dir_->path().empty());
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << earlier_logs_;
      if (daemon_ != nullptr) {
        std::cerr << "--- probesnatd log (pid " << daemon_->pid() << ", the last one) ---\n"
                  << daemon_->Log() << "---\n";
      }
    }
    stub_.reset();
    daemon_.reset();
  }

  std::string socket() const { return run_dir_->path() + "/probesnatd.sock"; }
  std::string state_file() const { return run_dir_->path() + "/state"; }

  // probesnatd in the node namespace on the test's run directory with `--state-file state_file()`
  // (unless `default_state_file`), the drift check every `resync_` ("0": off), and `extra`.
  Daemon::Options AgentOptions(const std::vector<std::string>& extra,
                               bool default_state_file = false) const {
    Daemon::Options o;
    o.node_netns = topo_->node().name();
    o.socket_path = socket();
    o.args = {"--allowed-netns-root", "/run/netns", "--log-level", "info",
              "--resync-interval", resync_};
    if (!default_state_file) {
      o.args.insert(o.args.end(), {"--state-file", state_file()});
    }
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    o.ready_timeout = absl::Seconds(10);
    return o;
  }

  // Starts (or starts again) probesnatd and waits until it is SERVING.
  absl::Status Start(const std::vector<std::string>& extra = {}, bool default_state_file = false) {
    KeepLog();
    stub_.reset();
    daemon_.reset();
    absl::StatusOr<std::unique_ptr<Daemon>> d =
        Daemon::Start(AgentOptions(extra, default_state_file));
    if (!d.ok()) {
      return d.status();
    }
    daemon_ = std::move(*d);
    stub_ = daemon_->Enrollment();
    return absl::OkStatus();
  }

  // kill -9: nothing of the agent runs afterwards, its kernel state and files stay.
  void Kill() {
    ASSERT_NE(daemon_, nullptr);
    absl::StatusOr<int> status = daemon_->Stop(SIGKILL);
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << "wait status " << *status;
  }

  // SIGTERM (no --cleanup-on-exit): a clean exit that leaves the kernel state.
  void Term() {
    ASSERT_NE(daemon_, nullptr);
    absl::StatusOr<int> status = daemon_->Stop(SIGTERM);
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_EQ(ExitCode(*status), 0) << "wait status " << *status;
  }

  void Stop(int sig) {
    if (sig == SIGKILL) {
      Kill();
    } else {
      Term();
    }
  }

  void KeepLog() {
    if (daemon_ == nullptr) {
      return;
    }
    // The two daemons before the current one are enough to see what a restart inherited.
    earlier_logs_ = absl::StrCat(last_log_, "--- probesnatd log (pid ", daemon_->pid(), ") ---\n",
                                 daemon_->Log(), "---\n");
    last_log_ = absl::StrCat("--- probesnatd log (pid ", daemon_->pid(), ") ---\n",
                             daemon_->Log(), "---\n");
  }

  // List, by uid.
  absl::StatusOr<PodMap> Listed() {
    probesnat::v1::ListResponse list;
    grpc::Status st = List(*stub_, &list);
    if (!st.ok()) {
      return absl::UnavailableError(absl::StrCat("List: ", Describe(st)));
    }
    PodMap pods;
    for (const PodStatus& status : list.pods()) {
      pods[status.pod().uid()] = status;
    }
    return pods;
  }

  // List once no pod is PENDING any more (re-adoption still running), for up to `limit`.
  absl::StatusOr<PodMap> ListedSettled(absl::Duration limit = absl::Seconds(5)) {
    absl::StatusOr<PodMap> pods;
    const absl::Time deadline = absl::Now() + limit;
    do {
      pods = Listed();
      if (!pods.ok()) {
        return pods;
      }
      bool pending = false;
      for (const auto& [uid, status] : *pods) {
        pending = pending || status.phase() == probesnat::v1::POD_PHASE_PENDING;
      }
      if (!pending) {
        return pods;
      }
      absl::SleepFor(absl::Milliseconds(20));
    } while (absl::Now() < deadline);
    return pods;
  }

  absl::StatusOr<PodStatus> GetPod(const std::string& uid) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    probesnat::v1::GetRequest req;
    req.set_uid(uid);
    PodStatus status;
    grpc::Status st = stub_->Get(&ctx, req, &status);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                          absl::StrCat("Get ", uid, ": ", Describe(st)));
    }
    return status;
  }

  void MustEnroll(const probesnat::v1::Pod& pod) {
    grpc::Status st = Enroll(*stub_, pod);
    ASSERT_TRUE(st.ok()) << "Enroll " << pod.uid() << ": " << Describe(st);
  }

  probesnat::v1::Pod PodA() const {
    return MakePod(kUidA, {topo_->pod(0).v4, topo_->pod(0).v6}, topo_->pod(0).path(), "pod-a");
  }
  probesnat::v1::Pod PodB() const {
    return MakePod(kUidB, {topo_->pod(1).v4, topo_->pod(1).v6}, topo_->pod(1).path(), "pod-b");
  }

  // What List says about `pods` as the kernel must hold it.
  static std::map<std::string, KernelPod> KernelView(const PodMap& pods,
                                                     const std::map<std::string, std::string>& ns) {
    std::map<std::string, KernelPod> out;
    for (const auto& [uid, status] : pods) {
      KernelPod k;
      k.ips.assign(status.pod().ips().begin(), status.pod().ips().end());
      auto it = ns.find(uid);
      k.ns = it == ns.end() ? "?" : it->second;
      k.generation = status.generation();
      out[uid] = k;
    }
    return out;
  }

  // Pod A and pod B in the topology, by uid -> namespace name.
  std::map<std::string, std::string> TopologyNamespaces() {
    return {{kUidA, a().name()}, {kUidB, b().name()}};
  }

  // One probe from the node to ip:port, and the address it arrived from at `listener`.
  absl::StatusOr<std::string> ProbeSource(const std::string& ip, Listener& listener,
                                          uint16_t port = kAppPort) {
    ConnectOptions o;
    o.timeout = absl::Seconds(2);
    absl::StatusOr<Connection> c = Connect(fd_node(), Endpoint{ip, port}, o);
    if (!c.ok()) {
      return c.status();
    }
    absl::StatusOr<Accepted> got = listener.Accept(absl::Seconds(2));
    if (!got.ok()) {
      return got.status();
    }
    return got->peer.ip;
  }

  std::string resync_ = "0";
  std::unique_ptr<ScopedDir> run_dir_;  // before daemon_: the daemon stops before it is removed
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub_;
  std::string last_log_, earlier_logs_;
};

// ---------------------------------------------------------------------------------------------
// 1. kill -9 at random moments during a burst of Enroll/Unenroll: never half a pod.

// One pod of the burst as the test knows it: enrolled or not, and with which capture variant (the
// variant changes the spec, so re-enrolling with the other one bumps the generation).
struct BurstState {
  bool enrolled = false;
  bool inbound_capture = true;

  bool operator==(const BurstState&) const = default;
};

std::string Show(const BurstState& s) {
  return !s.enrolled ? "absent" : s.inbound_capture ? "enrolled" : "enrolled(no inbound)";
}

struct BurstSlot {
  BurstState acked;                   // after the last operation that returned OK
  std::optional<BurstState> pending;  // an operation that had not returned when the agent died
};

uint64_t SeedFromEnvOr(uint64_t fallback) {
  const char* env = std::getenv("PSNT_RESTART_SEED");
  uint64_t seed = 0;
  return env != nullptr && absl::SimpleAtoi(env, &seed) ? seed : fallback;
}

int IterationsFromEnvOr(int fallback) {
  const char* env = std::getenv("PSNT_RESTART_ITERATIONS");
  int n = 0;
  return env != nullptr && absl::SimpleAtoi(env, &n) && n > 0 ? n : fallback;
}

TEST_F(RestartTest, KillAtRandomMomentsDuringABurstNeverLeavesHalfAPod) {
  constexpr int kPods = 24;
  constexpr int kThreads = 3;  // thread t owns pods t, t + kThreads, ...: one operation per pod
  const int iterations = IterationsFromEnvOr(50);
  const uint64_t seed = SeedFromEnvOr(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())));
  std::cout << "[ INFO     ] seed " << seed << " (PSNT_RESTART_SEED=" << seed
            << " to repeat the schedule), " << iterations << " iterations\n";
  std::mt19937_64 rng(seed);

  std::vector<netfilter::testing::ScopedNetns> spaces;
  std::vector<std::string> ns_names;
  std::vector<probesnat::v1::Pod> base;
  std::map<std::string, std::string> ns_of;
  for (int i = 0; i < kPods; ++i) {
    absl::StatusOr<netfilter::testing::ScopedNetns> ns =
        netfilter::testing::ScopedNetns::Create(absl::StrCat("k", i));
    ASSERT_TRUE(ns.ok()) << ns.status();
    const std::string uid = absl::StrCat("d0d0d0d0-0000-4000-8000-0000000000", 10 + i);
    base.push_back(MakePod(uid, {absl::StrCat("10.244.3.", i + 1), absl::StrCat("fd00:244:3::", i + 1)},
                           ns->path(), absl::StrCat("burst-", i)));
    ns_names.push_back(ns->name());
    ns_of[uid] = ns->name();
    spaces.push_back(std::move(*ns));
  }
  auto spec = [&](int i, const BurstState& s) {
    probesnat::v1::Pod pod = base[i];
    pod.mutable_overrides()->set_disable_inbound_capture(!s.inbound_capture);
    return pod;
  };

  PSNT_ASSERT_OK(Start());
  std::vector<BurstSlot> slots(kPods);
  int total_ops = 0, in_flight_at_kill = 0, late_settled = 0;
  absl::Duration restart_total;
  const absl::Time test_start = absl::Now();
  for (int iter = 0; iter < iterations; ++iter) {
    SCOPED_TRACE(absl::StrCat("iteration ", iter, ", seed ", seed));
    std::atomic<bool> killed{false};
    std::atomic<int> ops{0};
    std::mutex problems_mu;
    std::vector<std::string> problems;
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; ++t) {
      const uint64_t thread_seed = rng();
      clients.emplace_back([&, t, thread_seed] {
        std::mt19937_64 trng(thread_seed);
        auto stub = daemon_->Enrollment();
        std::vector<int> mine;
        for (int i = t; i < kPods; i += kThreads) {
          mine.push_back(i);
        }
        while (!killed.load()) {
          const int i = mine[trng() % mine.size()];
          BurstSlot& slot = slots[i];
          BurstState target;
          const bool enroll = trng() % 100 < 55;
          if (enroll) {
            target.enrolled = true;
            target.inbound_capture = trng() % 2 == 0;
          }
          slot.pending = target;
          grpc::Status st;
          probesnat::v1::UnenrollResponse unenrolled;
          if (enroll) {
            st = Enroll(*stub, spec(i, target));
          } else {
            st = Unenroll(*stub, base[i].uid(), &unenrolled);
          }
          if (!st.ok()) {
            if (!killed.load()) {
              std::lock_guard<std::mutex> lock(problems_mu);
              problems.push_back(absl::StrCat(enroll ? "Enroll " : "Unenroll ", base[i].uid(),
                                              " failed while the agent ran: ", Describe(st)));
            }
            return;  // slot.pending stays: the operation may or may not have happened
          }
          if (!enroll && unenrolled.was_enrolled() != slot.acked.enrolled) {
            std::lock_guard<std::mutex> lock(problems_mu);
            problems.push_back(absl::StrCat("Unenroll ", base[i].uid(), " answered was_enrolled=",
                                            unenrolled.was_enrolled(), " but the pod was ",
                                            Show(slot.acked)));
          }
          slot.acked = target;
          slot.pending.reset();
          ops.fetch_add(1);
        }
      });
    }
    // The moment of the kill: sometimes at once, mostly in the middle of the burst.
    const int delay_ms = static_cast<int>(rng() % 250);
    absl::SleepFor(absl::Milliseconds(delay_ms));
    killed.store(true);
    ::kill(daemon_->pid(), SIGKILL);
    for (std::thread& c : clients) {
      c.join();
    }
    ASSERT_NO_FATAL_FAILURE(Kill());  // reaps it
    total_ops += ops.load();
    for (const BurstSlot& s : slots) {
      in_flight_at_kill += s.pending.has_value() ? 1 : 0;
    }
    ASSERT_TRUE(problems.empty()) << problems.size() << " problems in the burst, first: "
                                  << problems.front();

    const absl::Time restart = absl::Now();
    PSNT_ASSERT_OK(Start());
    restart_total += absl::Now() - restart;

    // No Sync: List must show exactly what was acknowledged (or an in-flight operation whole).
    absl::StatusOr<PodMap> first = Listed();
    ASSERT_TRUE(first.ok()) << first.status();
    absl::StatusOr<PodMap> listed = ListedSettled();
    ASSERT_TRUE(listed.ok()) << listed.status();
    if (first->size() != listed->size()) {
      problems.push_back(absl::StrCat("the first List after the restart had ", first->size(),
                                      " pods, ", listed->size(), " once settled"));
    }
    bool was_pending = false;
    for (const auto& [uid, status] : *first) {
      was_pending = was_pending || status.phase() == probesnat::v1::POD_PHASE_PENDING;
    }
    late_settled += was_pending ? 1 : 0;
    for (int i = 0; i < kPods; ++i) {
      const std::string& uid = base[i].uid();
      BurstState seen;
      auto it = listed->find(uid);
      if (it != listed->end()) {
        seen.enrolled = true;
        seen.inbound_capture = !it->second.pod().overrides().disable_inbound_capture();
        if (it->second.phase() != probesnat::v1::POD_PHASE_APPLIED) {
          problems.push_back(absl::StrCat(uid, " is ", PhaseName(it->second.phase()), " (",
                                          it->second.reason(), ") after the restart"));
        }
        if (it->second.pod().netns_path() != base[i].netns_path() ||
            it->second.pod().ips_size() != 2) {
          problems.push_back(absl::StrCat(uid, " is listed with another spec: ",
                                          it->second.pod().ShortDebugString()));
        }
      }
      const BurstSlot& slot = slots[i];
      if (!(seen == slot.acked || (slot.pending.has_value() && seen == *slot.pending))) {
        problems.push_back(absl::StrCat(uid, " is ", Show(seen), " after the restart; acknowledged ",
                                        Show(slot.acked), slot.pending ? ", in flight " : "",
                                        slot.pending ? Show(*slot.pending) : ""));
      }
    }
    // The kernel equals the listed set exactly.
    std::map<std::string, std::string> tables;
    std::vector<std::string> kernel =
        KernelMismatches(topo_->node().name(), KernelView(*listed, ns_of), ns_names, &tables);
    problems.insert(problems.end(), kernel.begin(), kernel.end());
    // And the capture variant is the one listed (a table of the spec, not half of it).
    for (int i = 0; i < kPods; ++i) {
      auto it = listed->find(base[i].uid());
      if (it == listed->end()) {
        continue;
      }
      const bool inbound = !it->second.pod().overrides().disable_inbound_capture();
      const std::string& table = tables[ns_names[i]];
      const bool has_inbound = absl::StrContains(table, absl::StrCat(":", kInboundPort));
      if (!table.empty() && inbound != has_inbound) {
        problems.push_back(absl::StrCat(base[i].uid(), " is listed with inbound capture ",
                                        inbound ? "on" : "off", " but its table ",
                                        has_inbound ? "redirects" : "does not redirect", " to ",
                                        kInboundPort, ":\n", table));
      }
    }
    ASSERT_TRUE(problems.empty()) << problems.size() << " differences after kill -9 at "
                                  << delay_ms << " ms into the burst (" << ops.load()
                                  << " operations acknowledged), listed: "
                                  << DescribePods(*listed) << "\n"
                                  << absl::StrJoin(problems, "\n");
    // What was seen is now what is known.
    for (int i = 0; i < kPods; ++i) {
      auto it = listed->find(base[i].uid());
      slots[i].acked.enrolled = it != listed->end();
      slots[i].acked.inbound_capture =
          it == listed->end() || !it->second.pod().overrides().disable_inbound_capture();
      slots[i].pending.reset();
    }
  }
  std::cout << "[ INFO     ] " << iterations << " kills, " << total_ops
            << " operations acknowledged, " << in_flight_at_kill
            << " in flight at a kill, mean restart to SERVING "
            << absl::FormatDuration(restart_total / iterations) << ", " << late_settled
            << " restarts listed a PENDING pod first, "
            << absl::FormatDuration(absl::Now() - test_start) << " in all\n";
  EXPECT_GT(total_ops, iterations) << "the bursts hardly did anything";
}

// ---------------------------------------------------------------------------------------------
// 2. Probes keep arriving from the probe address across 20 restarts (10 SIGTERM, 10 kill -9).

TEST_F(RestartTest, ContinuousConnectionsSurviveTwentyRestarts) {
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  PSNT_ASSERT_OK(Start());
  MustEnroll(PodA());

  std::atomic<bool> stop{false};
  std::atomic<int> connections{0}, failed{0}, from_node{0}, other{0};
  std::mutex mu;
  std::vector<std::string> problems;
  std::thread prober([&] {
    int n = 0;
    while (!stop.load()) {
      const std::string dst = n++ % 2 == 0 ? a().v4 : a().v6;
      absl::StatusOr<std::string> from = ProbeSource(dst, *app);
      connections.fetch_add(1);
      std::string problem;
      if (!from.ok()) {
        failed.fetch_add(1);
        problem = absl::StrCat("connection to ", dst, ": ", from.status().ToString());
      } else if (*from == kNodeV4 || *from == kNodeV6) {
        from_node.fetch_add(1);
        problem = absl::StrCat("connection to ", dst, " arrived from the node's address ", *from);
      } else if (*from != kProbeV4 && *from != kProbeV6) {
        other.fetch_add(1);
        problem = absl::StrCat("connection to ", dst, " arrived from ", *from);
      }
      if (!problem.empty()) {
        std::lock_guard<std::mutex> lock(mu);
        problems.push_back(absl::StrCat(absl::FormatTime("%H:%M:%E3S", absl::Now(),
                                                         absl::UTCTimeZone()),
                                        " ", problem));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });

  std::vector<std::string> restart_problems;
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(150));
    const int sig = i % 2 == 0 ? SIGTERM : SIGKILL;
    const absl::StatusOr<int> status = daemon_->Stop(sig);
    if (!status.ok()) {
      restart_problems.push_back(absl::StrCat("restart ", i, ": stop: ", status.status().ToString()));
    }
    absl::SleepFor(absl::Milliseconds(50));  // a moment with no agent at all
    if (absl::Status st = Start(); !st.ok()) {
      restart_problems.push_back(absl::StrCat("restart ", i, ": ", st.ToString()));
      break;
    }
    absl::StatusOr<PodStatus> got = GetPod(kUidA);
    if (!got.ok() || got->phase() == probesnat::v1::POD_PHASE_FAILED) {
      restart_problems.push_back(absl::StrCat(
          "restart ", i, " (", sig == SIGTERM ? "SIGTERM" : "kill -9", "): pod A ",
          got.ok() ? absl::StrCat("is FAILED: ", got->reason()) : got.status().ToString()));
    }
  }
  absl::SleepFor(absl::Milliseconds(200));
  stop.store(true);
  prober.join();
  std::cout << "[ INFO     ] " << connections.load() << " connections across 20 restarts: "
            << failed.load() << " failed, " << from_node.load() << " from the node's address, "
            << other.load() << " from another address\n";
  EXPECT_TRUE(restart_problems.empty()) << absl::StrJoin(restart_problems, "\n");
  EXPECT_GT(connections.load(), 100);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(from_node.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_TRUE(problems.empty()) << problems.size() << " connections went wrong:\n"
                                << absl::StrJoin(problems, "\n");
}

// ---------------------------------------------------------------------------------------------
// 3. Unenroll after a restart removes what the pod had, as it would have before.

TEST_F(RestartTest, RestartThenUnenrollRemovesMembersAndTable) {
  auto app = Listen(fd_a(), kAppPort);
  auto app_b = Listen(fd_b(), kAppPort);
  ASSERT_TRUE(app && app_b);
  const std::string node = topo_->node().name();
  for (int sig : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(sig == SIGTERM ? "SIGTERM" : "kill -9");
    // The default state file: <directory of --socket>/state.
    PSNT_ASSERT_OK(Start({}, /*default_state_file=*/true));
    MustEnroll(PodA());
    MustEnroll(PodB());
    absl::StatusOr<PodStatus> before = GetPod(kUidA);
    ASSERT_TRUE(before.ok()) << before.status();
    struct stat st {};
    EXPECT_EQ(::stat(state_file().c_str(), &st), 0)
        << "no state file at the default path " << state_file();
    ASSERT_NO_FATAL_FAILURE(Stop(sig));
    PSNT_ASSERT_OK(Start({}, /*default_state_file=*/true));

    absl::StatusOr<PodStatus> after = GetPod(kUidA);
    ASSERT_TRUE(after.ok()) << "pod A forgotten across the restart: " << after.status();
    EXPECT_EQ(after->phase(), probesnat::v1::POD_PHASE_APPLIED) << after->reason();
    EXPECT_EQ(after->generation(), before->generation());
    EXPECT_EQ(after->pod().ips_size(), 2);
    absl::StatusOr<PodMap> listed = Listed();
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_EQ(listed->size(), 2u) << DescribePods(*listed);

    probesnat::v1::UnenrollResponse resp;
    grpc::Status un = Unenroll(*stub_, kUidA, &resp);
    ASSERT_TRUE(un.ok()) << Describe(un);
    EXPECT_TRUE(resp.was_enrolled()) << "Unenroll after the restart did not know pod A";
    absl::StatusOr<PodMap> left = Listed();
    ASSERT_TRUE(left.ok());
    std::map<std::string, KernelPod> want =
        KernelView(*left, TopologyNamespaces());
    EXPECT_EQ(want.count(kUidA), 0u);
    EXPECT_EQ(want.count(kUidB), 1u);
    std::vector<std::string> kernel = KernelMismatches(node, want, {a().name(), b().name()});
    EXPECT_TRUE(kernel.empty()) << absl::StrJoin(kernel, "\n") << "\nnode:\n"
                                << ProbesnatTableText(node);
    // Probes to A come from the node again; B is still SNATed.
    absl::StatusOr<std::string> from = ProbeSource(a().v4, *app);
    ASSERT_TRUE(from.ok()) << from.status();
    EXPECT_EQ(*from, kNodeV4);
    from = ProbeSource(b().v4, *app_b);
    ASSERT_TRUE(from.ok()) << from.status();
    EXPECT_EQ(*from, kProbeV4);

    // The Unenroll is durable too.
    ASSERT_NO_FATAL_FAILURE(Kill());
    PSNT_ASSERT_OK(Start({}, /*default_state_file=*/true));
    listed = Listed();
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ(listed->count(kUidA), 0u) << "pod A came back: " << DescribePods(*listed);
    EXPECT_EQ(listed->count(kUidB), 1u) << DescribePods(*listed);
    kernel = KernelMismatches(node, KernelView(*listed, TopologyNamespaces()),
                              {a().name(), b().name()});
    EXPECT_TRUE(kernel.empty()) << absl::StrJoin(kernel, "\n");

    // Next round from nothing.
    un = Unenroll(*stub_, kUidB, &resp);
    ASSERT_TRUE(un.ok()) << Describe(un);
    EXPECT_TRUE(resp.was_enrolled());
    ASSERT_NO_FATAL_FAILURE(Term());
  }
}

// ---------------------------------------------------------------------------------------------
// 4. IP reuse: pod A's namespace is deleted without Unenroll, pod B takes A's addresses; a late
// Unenroll of A leaves them to B, with and without restarts in between.

enum class Reuse { kNoRestart, kRestartBeforeReuse, kRestartAfterReuse };

class IpReuseTest : public RestartTest, public ::testing::WithParamInterface<Reuse> {};

TEST_P(IpReuseTest, LateUnenrollOfAnOldPodKeepsTheReusedAddress) {
  const std::string node = topo_->node().name();
  const std::string x4 = a().v4, x6 = a().v6;
  auto app_b = Listen(fd_b(), kAppPort);
  auto inbound_b = Listen(fd_b(), kInboundPort);
  ASSERT_TRUE(app_b && inbound_b);
  PSNT_ASSERT_OK(Start());
  MustEnroll(PodA());

  // The sandbox of A goes away without an Unenroll.
  a_fd_.reset();
  topo_->DeletePod(0);
  if (GetParam() == Reuse::kRestartBeforeReuse) {
    ASSERT_NO_FATAL_FAILURE(Kill());
    PSNT_ASSERT_OK(Start());
    absl::StatusOr<PodMap> listed = ListedSettled();
    ASSERT_TRUE(listed.ok()) << listed.status();
    auto it = listed->find(kUidA);
    ASSERT_NE(it, listed->end()) << "the journaled pod A is not listed: " << DescribePods(*listed);
    EXPECT_EQ(it->second.phase(), probesnat::v1::POD_PHASE_FAILED)
        << "pod A's namespace is gone: " << DescribePods(*listed);
    absl::StatusOr<std::map<std::string, std::string>> members = ProbesnatHostMembers(node);
    ASSERT_TRUE(members.ok()) << members.status();
    EXPECT_EQ(members->count(x4) + members->count(x6), 0u)
        << "the addresses of pod A, whose namespace is gone, are still in the host set:\n"
        << ProbesnatTableText(node);
  }

  // B's sandbox gets A's addresses (as a CNI's IPAM reuses them), the node routes them to B.
  PSNT_ASSERT_OK(RunIn(b().name(), absl::StrCat("ip addr add ", x4, "/32 dev eth0")));
  PSNT_ASSERT_OK(RunIn(b().name(), absl::StrCat("ip addr add ", x6, "/128 dev eth0 nodad")));
  PSNT_ASSERT_OK(RunIn(node, absl::StrCat("ip route replace ", x4, "/32 dev ", b().node_if)));
  PSNT_ASSERT_OK(RunIn(node, absl::StrCat("ip -6 route replace ", x6, "/128 dev ", b().node_if)));
  const probesnat::v1::Pod reused = MakePod(kUidB, {x4, x6}, b().path(), "pod-b");
  MustEnroll(reused);
  if (GetParam() == Reuse::kRestartAfterReuse) {
    ASSERT_NO_FATAL_FAILURE(Kill());
    PSNT_ASSERT_OK(Start());
  }

  probesnat::v1::UnenrollResponse resp;
  grpc::Status un = Unenroll(*stub_, kUidA, &resp);
  ASSERT_TRUE(un.ok()) << Describe(un);
  std::cout << "[ INFO     ] late Unenroll(A): was_enrolled=" << resp.was_enrolled() << "\n";

  auto expect_b_owns_x = [&](const std::string& when) {
    SCOPED_TRACE(when);
    absl::StatusOr<std::map<std::string, std::string>> members = ProbesnatHostMembers(node);
    ASSERT_TRUE(members.ok()) << members.status();
    for (const std::string& ip : {x4, x6}) {
      auto it = members->find(ip);
      EXPECT_TRUE(it != members->end() && it->second == kUidB)
          << ip << " is " << (it == members->end() ? "not in the host set" : "owned by " + it->second)
          << ", want pod B " << kUidB << ":\n"
          << ProbesnatTableText(node);
    }
    absl::StatusOr<PodMap> listed = Listed();
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_EQ(listed->count(kUidA), 0u) << DescribePods(*listed);
    auto b_status = listed->find(kUidB);
    ASSERT_NE(b_status, listed->end()) << DescribePods(*listed);
    EXPECT_EQ(b_status->second.phase(), probesnat::v1::POD_PHASE_APPLIED)
        << DescribePods(*listed);
    absl::StatusOr<ProbesnatTableHead> head = ReadProbesnatTableHead(b().name());
    ASSERT_TRUE(head.ok()) << head.status();
    EXPECT_EQ(head->comment, PodTableComment(kUidB, b_status->second.generation()));
    for (const auto& [ip, probe] : {std::pair{x4, kProbeV4}, std::pair{x6, kProbeV6}}) {
      absl::StatusOr<std::string> from = ProbeSource(ip, *app_b);
      ASSERT_TRUE(from.ok()) << "probe to " << ip << ": " << from.status()
                             << (inbound_b->HasPending() ? " (captured to 15006 instead)" : "");
      EXPECT_EQ(*from, probe) << "probe to " << ip << " in pod B";
    }
  };
  expect_b_owns_x("after the late Unenroll");
  // And the late Unenroll does not come back after another restart.
  ASSERT_NO_FATAL_FAILURE(Kill());
  PSNT_ASSERT_OK(Start());
  expect_b_owns_x("after a restart following the late Unenroll");
}

INSTANTIATE_TEST_SUITE_P(Restarts, IpReuseTest,
                         ::testing::Values(Reuse::kNoRestart, Reuse::kRestartBeforeReuse,
                                           Reuse::kRestartAfterReuse),
                         [](const ::testing::TestParamInfo<Reuse>& info) -> std::string {
                           switch (info.param) {
                             case Reuse::kNoRestart:
                               return "NoRestart";
                             case Reuse::kRestartBeforeReuse:
                               return "RestartBeforeReuse";
                             case Reuse::kRestartAfterReuse:
                               return "RestartAfterReuse";
                           }
                           return "?";
                         });

// ---------------------------------------------------------------------------------------------
// 5. A damaged state file: the agent starts and serves, says so, moves the file aside and keeps
// what it can.

// kFlippedByte: one byte in the middle of the file; kFlippedByteInLastRecord: one byte inside the
// last record, its line otherwise whole; kTruncated: the last record cut short (as by a crash in
// the middle of an append); kGarbage: 4 KiB of random bytes; kDirectory: a directory at the path.
enum class Damage {
  kFlippedByte,
  kFlippedByteInLastRecord,
  kTruncated,
  kEmpty,
  kGarbage,
  kDirectory
};

std::string DamageName(Damage d) {
  switch (d) {
    case Damage::kFlippedByte:
      return "FlippedByte";
    case Damage::kFlippedByteInLastRecord:
      return "FlippedByteInLastRecord";
    case Damage::kTruncated:
      return "Truncated";
    case Damage::kEmpty:
      return "Empty";
    case Damage::kGarbage:
      return "Garbage";
    case Damage::kDirectory:
      return "Directory";
  }
  return "?";
}

class DamagedStateTest : public RestartTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedStateTest, DamagedStateFiles) {
  constexpr int kExtra = 3;
  std::vector<netfilter::testing::ScopedNetns> spaces;
  std::vector<probesnat::v1::Pod> pods = {PodA(), PodB()};
  std::map<std::string, std::string> ns_of = TopologyNamespaces();
  std::vector<std::string> ns_names = {a().name(), b().name()};
  for (int i = 0; i <= kExtra; ++i) {  // the last one is enrolled after the damage
    absl::StatusOr<netfilter::testing::ScopedNetns> ns =
        netfilter::testing::ScopedNetns::Create(absl::StrCat("dmg", i));
    ASSERT_TRUE(ns.ok()) << ns.status();
    pods.push_back(MakePod(absl::StrCat("da3a9e00-0000-4000-8000-0000000000", 10 + i),
                           {absl::StrCat("10.244.4.", i + 1), absl::StrCat("fd00:244:4::", i + 1)},
                           ns->path(), absl::StrCat("dmg-", i)));
    ns_of[pods.back().uid()] = ns->name();
    ns_names.push_back(ns->name());
    spaces.push_back(std::move(*ns));
  }
  const probesnat::v1::Pod late = pods.back();
  pods.pop_back();
  std::set<std::string> uids;
  for (const probesnat::v1::Pod& p : pods) {
    uids.insert(p.uid());
  }

  PSNT_ASSERT_OK(Start());
  for (const probesnat::v1::Pod& p : pods) {
    ASSERT_NO_FATAL_FAILURE(MustEnroll(p));
  }
  ASSERT_NO_FATAL_FAILURE(Term());
  const std::string intact = ReadFile(state_file());
  ASSERT_FALSE(intact.empty()) << "the agent wrote no state to " << state_file();

  const Damage damage = GetParam();
  std::string damaged = intact;
  switch (damage) {
    case Damage::kFlippedByte:
      damaged[damaged.size() / 2] ^= 0x5a;
      break;
    case Damage::kFlippedByteInLastRecord: {
      // The middle of the last line (the file ends with a newline).
      const size_t end = damaged.size() - 1;
      const size_t start = damaged.rfind('\n', end - 1);
      const size_t from = start == std::string::npos ? 0 : start + 1;
      damaged[from + (end - from) / 2] ^= 0x5a;
      break;
    }
    case Damage::kTruncated:
      damaged.resize(damaged.size() - 3);
      break;
    case Damage::kEmpty:
      damaged.clear();
      break;
    case Damage::kGarbage: {
      std::mt19937 rng(7);
      damaged.assign(4096, '\0');
      for (char& c : damaged) {
        c = static_cast<char>(rng());
      }
      break;
    }
    case Damage::kDirectory:
      break;
  }
  if (damage == Damage::kDirectory) {
    ASSERT_EQ(::unlink(state_file().c_str()), 0);
    ASSERT_EQ(::mkdir(state_file().c_str(), 0700), 0);
    WriteFile(state_file() + "/not-a-journal", "x");
  } else {
    WriteFile(state_file(), damaged);
  }

  absl::Status started = Start();
  ASSERT_TRUE(started.ok()) << "probesnatd did not come up with a " << DamageName(damage)
                            << " state file: " << started;
  const std::string log = daemon_->Log();
  // An empty file holds no record that could be damaged; every other case must be reported. A
  // torn last record is what a crash in the middle of an append leaves: reported, but the file
  // may be kept (its other records are sound); a corrupt record or an unreadable file is moved
  // aside.
  if (damage != Damage::kEmpty) {
    EXPECT_TRUE(absl::StrContains(log, state_file()))
        << "the log does not name the damaged state file " << state_file() << ":\n"
        << log;
  }
  if (damage != Damage::kEmpty && damage != Damage::kTruncated) {
    struct stat st {};
    EXPECT_EQ(::lstat((state_file() + ".damaged").c_str(), &st), 0)
        << "the damaged state file was not moved aside to " << state_file() << ".damaged";
  }

  absl::StatusOr<PodMap> listed = ListedSettled();
  ASSERT_TRUE(listed.ok()) << listed.status();
  for (const auto& [uid, status] : *listed) {
    EXPECT_TRUE(uids.count(uid)) << "listed a pod that was never enrolled: " << uid;
  }
  std::cout << "[ INFO     ] " << DamageName(damage) << " (" << intact.size() << " bytes intact): "
            << listed->size() << " of " << pods.size() << " pods kept: " << DescribePods(*listed)
            << "\n";
  if (damage == Damage::kTruncated || damage == Damage::kFlippedByteInLastRecord) {
    // Only the last record is damaged: at most that pod is lost.
    EXPECT_GE(listed->size(), pods.size() - 1) << DescribePods(*listed);
  }
  // What is kept is whole: APPLIED, its table and its host members owned by it.
  std::map<std::string, KernelPod> kept = KernelView(*listed, ns_of);
  for (const auto& [uid, status] : *listed) {
    EXPECT_EQ(status.phase(), probesnat::v1::POD_PHASE_APPLIED) << uid << ": " << status.reason();
    absl::StatusOr<ProbesnatTableHead> head = ReadProbesnatTableHead(ns_of[uid]);
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(head->comment, PodTableComment(uid, status.generation())) << uid;
  }
  absl::StatusOr<std::map<std::string, std::string>> members =
      ProbesnatHostMembers(topo_->node().name());
  ASSERT_TRUE(members.ok()) << members.status();
  for (const auto& [uid, k] : kept) {
    for (const std::string& ip : k.ips) {
      EXPECT_EQ((*members)[ip], uid) << ip << " of kept pod " << uid;
    }
  }

  // What the kernel still says of the pods the file lost (the owner of each host set member)
  // is enough to unenroll them: their addresses leave the host set, as before the damage.
  for (const probesnat::v1::Pod& p : pods) {
    if (listed->count(p.uid()) != 0) {
      continue;
    }
    probesnat::v1::UnenrollResponse resp;
    grpc::Status un = Unenroll(*stub_, p.uid(), &resp);
    ASSERT_TRUE(un.ok()) << Describe(un);
    absl::StatusOr<std::map<std::string, std::string>> now =
        ProbesnatHostMembers(topo_->node().name());
    ASSERT_TRUE(now.ok()) << now.status();
    for (const std::string& ip : p.ips()) {
      EXPECT_EQ(now->count(ip), 0u) << ip << " of lost pod " << p.uid() << " is still in the host "
                                    << "set after its Unenroll:\n" << daemon_->Log();
    }
  }

  // It serves: a new pod enrolls, and the new state is durable (the next start sees all of it).
  ASSERT_NO_FATAL_FAILURE(MustEnroll(late));
  absl::StatusOr<PodStatus> got = GetPod(late.uid());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->phase(), probesnat::v1::POD_PHASE_APPLIED) << got->reason();
  std::set<std::string> want;
  for (const auto& [uid, status] : *listed) {
    want.insert(uid);
  }
  want.insert(late.uid());
  ASSERT_NO_FATAL_FAILURE(Kill());
  PSNT_ASSERT_OK(Start());
  absl::StatusOr<PodMap> again = ListedSettled();
  ASSERT_TRUE(again.ok()) << again.status();
  std::set<std::string> seen;
  for (const auto& [uid, status] : *again) {
    seen.insert(uid);
  }
  EXPECT_EQ(seen, want) << "after the damaged start, the state written since was not kept: "
                        << DescribePods(*again);
  std::vector<std::string> kernel =
      KernelMismatches(topo_->node().name(), KernelView(*again, ns_of), {});
  // (only the host set: the pods lost with the damaged file may keep a table the agent cannot know)
  EXPECT_TRUE(kernel.empty()) << absl::StrJoin(kernel, "\n");
}

INSTANTIATE_TEST_SUITE_P(Restarts, DamagedStateTest,
                         ::testing::Values(Damage::kFlippedByte, Damage::kFlippedByteInLastRecord,
                                           Damage::kTruncated, Damage::kEmpty, Damage::kGarbage,
                                           Damage::kDirectory),
                         [](const ::testing::TestParamInfo<Damage>& info) {
                           return DamageName(info.param);
                         });

// ---------------------------------------------------------------------------------------------
// 6. A state file written under another probe address: the rules follow the new configuration,
// the pods are kept.

TEST_F(RestartTest, ChangedProbeAddressRewritesHostRulesAndKeepsPods) {
  constexpr char kOtherProbeV4[] = "169.254.7.128";
  const std::string node = topo_->node().name();
  auto app = Listen(fd_a(), kAppPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  ASSERT_TRUE(app && inbound);
  PSNT_ASSERT_OK(Start());
  MustEnroll(PodA());
  absl::StatusOr<std::string> from = ProbeSource(a().v4, *app);
  ASSERT_TRUE(from.ok()) << from.status();
  ASSERT_EQ(*from, kProbeV4);

  struct Round {
    int stop_signal;
    std::vector<std::string> args;
    const char* probe_v4;
    const char* old_v4;
  };
  for (const Round& round :
       {Round{SIGTERM, {"--probe-v4", kOtherProbeV4}, kOtherProbeV4, kProbeV4},
        Round{SIGKILL, {}, kProbeV4, kOtherProbeV4}}) {
    SCOPED_TRACE(absl::StrCat(round.stop_signal == SIGTERM ? "SIGTERM" : "kill -9",
                              ", then probe address ", round.probe_v4));
    ASSERT_NO_FATAL_FAILURE(Stop(round.stop_signal));
    PSNT_ASSERT_OK(Start(round.args));
    absl::StatusOr<PodMap> listed = ListedSettled();
    ASSERT_TRUE(listed.ok()) << listed.status();
    ASSERT_EQ(listed->count(kUidA), 1u) << "pod A was not kept: " << DescribePods(*listed);
    EXPECT_EQ(listed->at(kUidA).phase(), probesnat::v1::POD_PHASE_APPLIED)
        << DescribePods(*listed);
    const std::string host = ProbesnatTableText(node);
    EXPECT_TRUE(MentionsAddress(host, round.probe_v4)) << "host rules not rewritten:\n" << host;
    EXPECT_FALSE(MentionsAddress(host, round.old_v4)) << "old probe address left:\n" << host;
    const std::string pod_table = ProbesnatTableText(a().name());
    EXPECT_TRUE(MentionsAddress(pod_table, round.probe_v4)) << "pod rules not rewritten:\n"
                                                            << pod_table;
    EXPECT_FALSE(MentionsAddress(pod_table, round.old_v4)) << pod_table;
    std::vector<std::string> kernel =
        KernelMismatches(node, KernelView(*listed, TopologyNamespaces()), {a().name(), b().name()});
    EXPECT_TRUE(kernel.empty()) << absl::StrJoin(kernel, "\n");
    from = ProbeSource(a().v4, *app);
    ASSERT_TRUE(from.ok()) << from.status()
                           << (inbound->HasPending() ? " (captured to 15006 instead)" : "");
    EXPECT_EQ(*from, round.probe_v4);
    from = ProbeSource(a().v6, *app);
    ASSERT_TRUE(from.ok()) << from.status();
    EXPECT_EQ(*from, kProbeV6);
  }
}

// ---------------------------------------------------------------------------------------------
// 7. The drift check repairs re-adopted pods as it does enrolled ones.

TEST_F(RestartTest, DriftRepairAfterRestart) {
  resync_ = "500ms";
  const std::string node = topo_->node().name();
  auto app = Listen(fd_a(), kAppPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  ASSERT_TRUE(app && inbound);
  PSNT_ASSERT_OK(Start());
  MustEnroll(PodA());
  const std::string pod_table = ProbesnatTableText(a().name());
  ASSERT_FALSE(pod_table.empty());
  ASSERT_NO_FATAL_FAILURE(Kill());
  PSNT_ASSERT_OK(Start());
  absl::StatusOr<PodStatus> got = GetPod(kUidA);
  ASSERT_TRUE(got.ok()) << got.status();
  const std::string owner = PodTableComment(kUidA, got->generation());

  // A deleted pod table is back within about one resync interval, with its owner.
  PSNT_ASSERT_OK(RunIn(a().name(), absl::StrCat("nft delete table inet ", netfilter::kTableName)));
  const absl::Time deleted = absl::Now();
  EXPECT_TRUE(Eventually(
      [&] {
        absl::StatusOr<ProbesnatTableHead> head = ReadProbesnatTableHead(a().name());
        return head.ok() && head->present && head->comment == owner;
      },
      absl::Seconds(3)))
      << "pod table not restored after the restart:\n"
      << ProbesnatTableText(a().name());
  std::cout << "[ INFO     ] pod table back after " << absl::FormatDuration(absl::Now() - deleted)
            << "\n";
  EXPECT_EQ(ProbesnatTableText(a().name()), pod_table);

  // A flushed one too.
  PSNT_ASSERT_OK(RunIn(a().name(), absl::StrCat("nft flush table inet ", netfilter::kTableName)));
  EXPECT_TRUE(Eventually([&] { return ProbesnatTableText(a().name()) == pod_table; },
                         absl::Seconds(3)))
      << "pod rules not restored:\n"
      << ProbesnatTableText(a().name());

  // The host table: back with A's members, owned by A.
  PSNT_ASSERT_OK(RunIn(node, absl::StrCat("nft delete table inet ", netfilter::kTableName)));
  EXPECT_TRUE(Eventually(
      [&] {
        absl::StatusOr<std::map<std::string, std::string>> m = ProbesnatHostMembers(node);
        return m.ok() && m->size() == 2 && (*m)[a().v4] == kUidA && (*m)[a().v6] == kUidA;
      },
      absl::Seconds(3)))
      << "host table not restored:\n"
      << ProbesnatTableText(node);
  absl::StatusOr<std::string> from = ProbeSource(a().v4, *app);
  ASSERT_TRUE(from.ok()) << from.status();
  EXPECT_EQ(*from, kProbeV4);
}

// ---------------------------------------------------------------------------------------------
// 8. Re-adoption does not rewrite what matches; it repairs what differs.

TEST_F(RestartTest, UnchangedTablesAreNotRewrittenOnRestart) {
  const std::string node = topo_->node().name();
  PSNT_ASSERT_OK(Start());
  MustEnroll(PodA());
  MustEnroll(PodB());
  auto heads = [&] {
    std::map<std::string, ProbesnatTableHead> out;
    for (const std::string& ns : {node, a().name(), b().name()}) {
      absl::StatusOr<ProbesnatTableHead> head = ReadProbesnatTableHead(ns);
      EXPECT_TRUE(head.ok()) << head.status();
      out[ns] = head.value_or(ProbesnatTableHead{});
    }
    return out;
  };
  const std::map<std::string, ProbesnatTableHead> before = heads();
  for (const auto& [ns, head] : before) {
    ASSERT_TRUE(head.present) << ns;
  }
  const std::string table_a = ProbesnatTableText(a().name());
  const std::string table_b = ProbesnatTableText(b().name());
  const std::string host = ProbesnatTableText(node);

  for (int sig : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(sig == SIGTERM ? "SIGTERM" : "kill -9");
    ASSERT_NO_FATAL_FAILURE(Stop(sig));
    PSNT_ASSERT_OK(Start());
    absl::StatusOr<PodMap> listed = ListedSettled();
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ(listed->size(), 2u) << DescribePods(*listed);
    const std::map<std::string, ProbesnatTableHead> after = heads();
    for (const auto& [ns, head] : before) {
      EXPECT_EQ(after.at(ns).handle, head.handle)
          << "the table in " << ns << " was rewritten (handle " << head.handle << " -> "
          << after.at(ns).handle << ")";
      EXPECT_EQ(after.at(ns).comment, head.comment) << ns;
    }
    EXPECT_EQ(ProbesnatTableText(node), host);
    EXPECT_EQ(ProbesnatTableText(a().name()), table_a);
    EXPECT_EQ(ProbesnatTableText(b().name()), table_b);
  }

  // Changed while no agent ran: A's rules flushed. The start repairs A and leaves B alone (no drift
  // check is configured: this is re-adoption).
  ASSERT_NO_FATAL_FAILURE(Kill());
  PSNT_ASSERT_OK(RunIn(a().name(), absl::StrCat("nft flush table inet ", netfilter::kTableName)));
  PSNT_ASSERT_OK(Start());
  absl::StatusOr<PodMap> listed = ListedSettled();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(ProbesnatTableText(a().name()), table_a) << "the flushed table A was not repaired";
  const std::map<std::string, ProbesnatTableHead> after = heads();
  EXPECT_EQ(after.at(b().name()).handle, before.at(b().name()).handle)
      << "repairing A rewrote B's table";
  EXPECT_EQ(after.at(node).handle, before.at(node).handle) << "repairing A rewrote the host table";
}

// ---------------------------------------------------------------------------------------------
// 9. Host set members that no journaled pod owns are removed at start; the owned ones stay.

TEST_F(RestartTest, UnownedHostMembersAreRemovedOnRestart) {
  const std::string node = topo_->node().name();
  PSNT_ASSERT_OK(Start());
  MustEnroll(PodA());
  ASSERT_NO_FATAL_FAILURE(Term());
  // While no agent runs: a member owned by a pod the agent never had, and one without an owner.
  PSNT_ASSERT_OK(RunIn(node, absl::StrCat("nft add element inet ", netfilter::kTableName,
                                          " pods_v4 '{ 10.244.9.9 comment \"0badc0de-0000-4000-"
                                          "8000-000000000000\" }'")));
  PSNT_ASSERT_OK(RunIn(node, absl::StrCat("nft add element inet ", netfilter::kTableName,
                                          " pods_v6 '{ fd00:244:9::9 }'")));
  absl::StatusOr<std::map<std::string, std::string>> members = ProbesnatHostMembers(node);
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 4u) << ProbesnatTableText(node);

  PSNT_ASSERT_OK(Start());
  absl::StatusOr<PodMap> listed = ListedSettled();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u) << DescribePods(*listed);
  std::vector<std::string> kernel =
      KernelMismatches(node, KernelView(*listed, TopologyNamespaces()), {a().name(), b().name()});
  EXPECT_TRUE(kernel.empty()) << absl::StrJoin(kernel, "\n") << "\n" << ProbesnatTableText(node);
}

// ---------------------------------------------------------------------------------------------
// 10. A second agent on the run directory is refused and leaves the state file alone.

TEST_F(RestartTest, RefusedSecondAgentLeavesTheStateFileAlone) {
  PSNT_ASSERT_OK(Start());
  MustEnroll(PodA());
  const std::string state = ReadFile(state_file());
  ASSERT_FALSE(state.empty()) << "no state in " << state_file();
  Daemon::Options o = AgentOptions({});
  o.wait_ready = false;
  absl::StatusOr<std::unique_ptr<Daemon>> second = Daemon::Start(o);
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<int> exited = (*second)->WaitExit(absl::Seconds(10));
  ASSERT_TRUE(exited.ok()) << "the second agent did not give up: " << exited.status() << "\n"
                           << (*second)->Log();
  EXPECT_EQ(ExitCode(*exited), 1) << (*second)->Log();
  EXPECT_EQ(ReadFile(state_file()), state) << "the refused agent changed the state file";
  // The first keeps working, and what it does afterwards is kept.
  MustEnroll(PodB());
  ASSERT_NO_FATAL_FAILURE(Kill());
  PSNT_ASSERT_OK(Start());
  absl::StatusOr<PodMap> listed = ListedSettled();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u) << DescribePods(*listed);
  std::vector<std::string> kernel = KernelMismatches(
      topo_->node().name(), KernelView(*listed, TopologyNamespaces()), {a().name(), b().name()});
  EXPECT_TRUE(kernel.empty()) << absl::StrJoin(kernel, "\n");
}

}  // namespace
}  // namespace probesnat::integration
