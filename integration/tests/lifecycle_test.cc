// probesnatd over time: status events, drift repair, many pods at once.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/client_context.h"
#include "integration/tests/test_support.h"
#include "netfilter/rules_spec.h"

namespace probesnat::integration {
namespace {

using LifecycleTest = AgentTest;

TEST_F(LifecycleTest, WatchReportsInitialStateAndRemoval) {
  MustEnroll(PodA());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  probesnat::v1::WatchRequest req;
  req.set_initial_state(true);
  std::unique_ptr<grpc::ClientReader<probesnat::v1::Event>> reader = stub_->Watch(&ctx, req);
  probesnat::v1::Event ev;
  ASSERT_TRUE(reader->Read(&ev)) << "no initial event: " << Describe(reader->Finish());
  EXPECT_EQ(ev.status().pod().uid(), kUidA);
  EXPECT_EQ(ev.status().phase(), probesnat::v1::POD_PHASE_APPLIED);

  ASSERT_TRUE(Unenroll(*stub_, kUidA).ok());
  bool removed = false;
  while (!removed && reader->Read(&ev)) {
    removed =
        ev.status().pod().uid() == kUidA && ev.status().phase() == probesnat::v1::POD_PHASE_REMOVED;
  }
  EXPECT_TRUE(removed) << "no REMOVED event for " << kUidA;
  ctx.TryCancel();
  (void)reader->Finish();
}

// Polls `done` every 100 ms for up to `limit`.
template <typename F>
bool Eventually(F done, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (done()) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return done();
}

TEST_F(LifecycleTest, DeletedOrFlushedTablesAreRepaired) {
  StartDaemon({"--resync-interval", "500ms"});
  auto app = Listen(fd_a(), kAppPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  ASSERT_TRUE(app && inbound);
  MustEnroll(PodA());
  const std::string pod_table = ProbesnatTableText(a().name());
  ASSERT_FALSE(pod_table.empty());

  // Someone deletes our table in the pod: capture stops until the agent repairs it.
  PSNT_ASSERT_OK(RunIn(a().name(), absl::StrCat("nft delete table inet ", netfilter::kTableName)));
  EXPECT_TRUE(
      Eventually([&] { return ProbesnatTableText(a().name()) == pod_table; }, absl::Seconds(5)))
      << "pod table not restored:\n"
      << ProbesnatTableText(a().name());
  std::optional<Accepted> got = ConnectAndAccept(fd_b(), a().v4, kAppPort, *inbound);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, b().v4);

  // Someone flushes our rules (the table and chains stay).
  PSNT_ASSERT_OK(RunIn(a().name(), absl::StrCat("nft flush table inet ", netfilter::kTableName)));
  EXPECT_TRUE(
      Eventually([&] { return ProbesnatTableText(a().name()) == pod_table; }, absl::Seconds(5)))
      << "pod rules not restored:\n"
      << ProbesnatTableText(a().name());

  // Someone deletes the node's table: probes arrive from the node address until it is repaired.
  const std::string node = topo_->node().name();
  PSNT_ASSERT_OK(RunIn(node, absl::StrCat("nft delete table inet ", netfilter::kTableName)));
  EXPECT_TRUE(
      Eventually([&] { return ProbesnatSetHas(node, a().v4) && ProbesnatSetHas(node, a().v6); },
                 absl::Seconds(5)))
      << "node table not restored:\n"
      << ProbesnatTableText(node);
  got = ConnectAndAccept(fd_node(), a().v4, kAppPort, *app);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, kProbeV4);
}

// DESIGN.md "Coming next": rules outlive the agent and are re-adopted without a dropped probe.
// Probes run back to back while the agent is stopped, started again and re-synced.
TEST_F(LifecycleTest, NoProbeIsLostAcrossARestart) {
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  MustEnroll(PodA());
  std::atomic<bool> stop{false};
  std::atomic<int> probes{0};
  std::vector<std::string> problems;
  std::thread prober([&] {
    while (!stop.load()) {
      const std::string& dst = probes.load() % 2 == 0 ? a().v4 : a().v6;
      ConnectOptions o;
      o.timeout = absl::Seconds(2);
      absl::StatusOr<Connection> c = Connect(fd_node(), Endpoint{dst, kAppPort}, o);
      absl::StatusOr<Accepted> got =
          c.ok() ? app->Accept(absl::Seconds(2)) : absl::StatusOr<Accepted>(c.status());
      if (!got.ok()) {
        problems.push_back(absl::StrCat("probe to ", dst, ": ", got.status().ToString()));
      } else if (got->peer.ip != kProbeV4 && got->peer.ip != kProbeV6) {
        problems.push_back(absl::StrCat("probe to ", dst, " arrived from ", got->peer.ip));
      }
      probes.fetch_add(1);
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  absl::SleepFor(absl::Milliseconds(100));
  (void)daemon_->Stop(SIGTERM);
  absl::SleepFor(absl::Milliseconds(200));
  StartDaemon();
  grpc::Status st = Sync(*stub_, {PodA()});
  absl::SleepFor(absl::Milliseconds(200));
  stop.store(true);
  prober.join();
  ASSERT_TRUE(st.ok()) << Describe(st);
  std::cout << "[ INFO     ] " << probes.load() << " probes across the restart, " << problems.size()
            << " went wrong\n";
  EXPECT_GT(probes.load(), 10);
  EXPECT_TRUE(problems.empty()) << problems.size() << " of " << probes.load()
                                << " probes went wrong, first: " << problems.front();
}

TEST_F(LifecycleTest, CleanupOnExitRemovesEveryTable) {
  StartDaemon({"--cleanup-on-exit"});
  auto app = Listen(fd_a(), kAppPort);
  ASSERT_NE(app, nullptr);
  MustEnroll(PodA());
  MustEnroll(PodB());
  const std::string node = topo_->node().name();
  ASSERT_TRUE(HasProbesnatTable(node).value_or(false));
  absl::StatusOr<int> status = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  for (const std::string& ns : {node, a().name(), b().name()}) {
    absl::StatusOr<bool> table = HasProbesnatTable(ns);
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_FALSE(*table) << "probesnat table left in " << ns;
  }
  std::optional<Accepted> got = ConnectAndAccept(fd_node(), a().v4, kAppPort, *app);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->peer.ip, kNodeV4);
}

TEST_F(LifecycleTest, ManyConcurrentEnrollsAllLandAndSyncToEmptyRemovesThem) {
  constexpr int kPods = 16;
  std::vector<netfilter::testing::ScopedNetns> extra;
  std::vector<probesnat::v1::Pod> pods;
  for (int i = 0; i < kPods; ++i) {
    absl::StatusOr<netfilter::testing::ScopedNetns> ns =
        netfilter::testing::ScopedNetns::Create(absl::StrCat("x", i));
    ASSERT_TRUE(ns.ok()) << ns.status();
    pods.push_back(MakePod(absl::StrCat("c0ffee00-0000-4000-8000-0000000000", 10 + i),
                           {absl::StrCat("10.244.2.", i + 1), absl::StrCat("fd00:244:2::", i + 1)},
                           ns->path(), absl::StrCat("many-", i)));
    extra.push_back(std::move(*ns));
  }
  std::vector<grpc::Status> results(kPods);
  std::vector<std::thread> threads;
  threads.reserve(kPods);
  for (int i = 0; i < kPods; ++i) {
    threads.emplace_back([&, i] {
      auto stub = daemon_->Enrollment();
      results[i] = Enroll(*stub, pods[i]);
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  const std::string node = topo_->node().name();
  const std::string host = ProbesnatTableText(node);
  for (int i = 0; i < kPods; ++i) {
    EXPECT_TRUE(results[i].ok()) << pods[i].uid() << ": " << Describe(results[i]);
    absl::StatusOr<bool> table = HasProbesnatTable(extra[i].name());
    ASSERT_TRUE(table.ok());
    EXPECT_TRUE(*table) << extra[i].name();
    for (const std::string& ip : pods[i].ips()) {
      EXPECT_TRUE(ParseSetElements(host).count(ip)) << ip << " missing from\n" << host;
    }
  }
  probesnat::v1::ListResponse list;
  ASSERT_TRUE(List(*stub_, &list).ok());
  EXPECT_EQ(list.pods_size(), kPods);
  // The node's rules do not grow with pods: only set elements do.
  auto rule_lines = [](const std::string& table) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(table, '\n')) {
      n += absl::StrContains(line, " snat ") || absl::StrContains(line, " masquerade") ? 1 : 0;
    }
    return n;
  };
  EXPECT_EQ(rule_lines(host), 2) << host;  // one per family

  probesnat::v1::SyncResponse resp;
  grpc::Status st = Sync(*stub_, {}, &resp);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(resp.removed_uids_size(), kPods);
  const std::string after = ProbesnatTableText(node);
  for (int i = 0; i < kPods; ++i) {
    absl::StatusOr<bool> table = HasProbesnatTable(extra[i].name());
    ASSERT_TRUE(table.ok());
    EXPECT_FALSE(*table) << extra[i].name();
    for (const std::string& ip : pods[i].ips()) {
      EXPECT_FALSE(ParseSetElements(after).count(ip)) << ip << " still in\n" << after;
    }
  }
}

}  // namespace
}  // namespace probesnat::integration
