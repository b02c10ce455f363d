// How probesnatd starts and ends as a process: a refused start touches nothing, one of two agents
// started at once serves, SIGHUP does not kill it, SIGTERM ends it promptly with clients attached.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

std::string DescribeWait(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exit ", WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("signal ", WTERMSIG(wait_status));
  }
  return absl::StrCat("wait status ", wait_status);
}

class ProcessLifecycleTest : public AgentBinaryTest {
 protected:
  void SetUp() override {
    AgentBinaryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
  }

  std::string NodeTable() const { return ProbesnatTableText(topo_->node().name()); }
};

// 17.1: with agent A serving, a second agent on A's socket exits 1 and leaves A's host table as it
// was, with --cleanup-on-exit and with a different --probe-v4.
TEST_F(ProcessLifecycleTest, RefusedSecondAgentLeavesTheKernelAlone) {
  absl::StatusOr<std::unique_ptr<Daemon>> a = Daemon::Start(DaemonOptions({}));
  ASSERT_TRUE(a.ok()) << a.status();
  const std::string table = NodeTable();
  ASSERT_FALSE(table.empty());
  ASSERT_TRUE(absl::StrContains(table, kProbeV4)) << table;

  const std::vector<std::vector<std::string>> second_args = {
      {"--cleanup-on-exit"},
      {"--probe-v4", "169.254.7.128"},
      {"--cleanup-on-exit", "--probe-v4", "169.254.7.128"},
  };
  for (const std::vector<std::string>& extra : second_args) {
    SCOPED_TRACE(absl::StrJoin(extra, " "));
    absl::StatusOr<std::unique_ptr<Daemon>> b =
        Daemon::Start(DaemonOptions(extra, (*a)->socket_path(), /*wait_ready=*/false));
    ASSERT_TRUE(b.ok()) << b.status();
    // Sample the node table while B runs and after it exits: it must never change.
    absl::StatusOr<int> exited = absl::DeadlineExceededError("not yet");
    bool changed = false;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!exited.ok() && absl::Now() < deadline) {
      changed = changed || NodeTable() != table;
      exited = (*b)->WaitExit(absl::Milliseconds(20));
    }
    ASSERT_TRUE(exited.ok()) << "the second agent did not give up: " << exited.status() << "\n"
                             << (*b)->Log();
    EXPECT_EQ(ExitCode(*exited), 1) << DescribeWait(*exited) << "\n" << (*b)->Log();
    EXPECT_TRUE(absl::StrContains((*b)->Log(), absl::StrCat("pid ", (*a)->pid())))
        << "the refusal does not name the running agent's pid " << (*a)->pid() << ":\n"
        << (*b)->Log();
    EXPECT_FALSE(changed) << "the node table changed while the refused agent ran";
    EXPECT_EQ(NodeTable(), table) << "the refused agent changed the node table";
    absl::StatusOr<int> health = HealthCheck((*a)->channel(), absl::Seconds(2));
    ASSERT_TRUE(health.ok()) << "agent A is no longer reachable: " << health.status();
    EXPECT_EQ(*health, 1);
  }
}

// 17.1: a socket path that is a regular file stops the start before the kernel is touched.
TEST_F(ProcessLifecycleTest, StartRefusedForARegularFileAtTheSocketPathCreatesNoTable) {
  ScopedDir dir{"psnt-run"};
  ASSERT_FALSE(dir.path().empty());
  const std::string socket = dir.path() + "/probesnatd.sock";
  { std::ofstream(socket) << "not a socket\n"; }
  absl::StatusOr<std::unique_ptr<Daemon>> d =
      Daemon::Start(DaemonOptions({}, socket, /*wait_ready=*/false));
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<int> exited = (*d)->WaitExit(absl::Seconds(10));
  ASSERT_TRUE(exited.ok()) << exited.status() << "\n" << (*d)->Log();
  EXPECT_EQ(ExitCode(*exited), 1) << DescribeWait(*exited) << "\n" << (*d)->Log();
  EXPECT_TRUE(absl::StrContains((*d)->Log(), "is not a socket")) << (*d)->Log();
  EXPECT_FALSE(HasProbesnatTable(topo_->node().name()).value_or(true))
      << "a start that could not serve created the host table:\n"
      << NodeTable();
  struct stat st {};
  ASSERT_EQ(::lstat(socket.c_str(), &st), 0) << "the regular file was removed";
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

// 17.2: two agents started at the same instant on one socket: the lock lets exactly one serve, the
// other exits 1 naming the holder's pid, and the winner stays reachable once the loser is gone.
TEST_F(ProcessLifecycleTest, OfTwoAgentsStartedAtOnceExactlyOneServes) {
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    ScopedDir dir{"psnt-run"};
    ASSERT_FALSE(dir.path().empty());
    const std::string socket = dir.path() + "/probesnatd.sock";
    absl::StatusOr<std::unique_ptr<Daemon>> first =
        Daemon::Start(DaemonOptions({}, socket, /*wait_ready=*/false));
    absl::StatusOr<std::unique_ptr<Daemon>> second =
        Daemon::Start(DaemonOptions({}, socket, /*wait_ready=*/false));
    ASSERT_TRUE(first.ok() && second.ok());
    Daemon* agents[2] = {first->get(), second->get()};
    // Within a few seconds one of them has exited; the other must still run.
    int loser = -1;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (loser < 0 && absl::Now() < deadline) {
      for (int i = 0; i < 2 && loser < 0; ++i) {
        if (!agents[i]->Running()) {
          loser = i;
        }
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_GE(loser, 0) << "neither agent gave up: both serve\n--- first ---\n"
                        << agents[0]->Log() << "--- second ---\n"
                        << agents[1]->Log();
    Daemon* winner = agents[1 - loser];
    Daemon* lost = agents[loser];
    absl::StatusOr<int> status = lost->WaitExit(absl::ZeroDuration());
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(ExitCode(*status), 1) << DescribeWait(*status) << "\n" << lost->Log();
    EXPECT_TRUE(absl::StrContains(lost->Log(), absl::StrCat("pid ", winner->pid())))
        << "the loser does not name the winner's pid " << winner->pid() << ":\n"
        << lost->Log();
    PSNT_ASSERT_OK(winner->WaitReady(absl::Seconds(10)));
    EXPECT_TRUE(winner->Running());
    auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
    absl::StatusOr<int> health = HealthCheck(channel, absl::Seconds(2));
    ASSERT_TRUE(health.ok()) << "the winner is not reachable after the loser exited: "
                             << health.status() << "\n"
                             << winner->Log();
    EXPECT_EQ(*health, 1);
    absl::StatusOr<int> stopped = winner->Stop(SIGTERM);
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(ExitCode(*stopped), 0) << DescribeWait(*stopped);
  }
}

// 17.3: SIGHUP re-reads the configuration: log-level changes live, other changes are reported as
// needing a restart, and the agent keeps serving.
TEST_F(ProcessLifecycleTest, SighupReloadsTheLogLevelAndKeepsServing) {
  ScopedDir dir{"psnt-run"};
  ASSERT_FALSE(dir.path().empty());
  const std::string config = dir.path() + "/probesnat.yaml";
  { std::ofstream(config) << "log-level: info\n"; }
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(DaemonOptions({"--config", config}));
  ASSERT_TRUE(d.ok()) << d.status();
  const std::string table = NodeTable();

  { std::ofstream(config) << "log-level: debug\nprobe-v4: 169.254.7.128\n"; }
  ASSERT_EQ(::kill((*d)->pid(), SIGHUP), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains((*d)->Log(), "SIGHUP: probe-v4 changed") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE((*d)->Running()) << "SIGHUP ended the agent:\n" << (*d)->Log();
  const std::string log = (*d)->Log();
  EXPECT_TRUE(absl::StrContains(log, "SIGHUP: log-level info -> debug")) << log;
  EXPECT_TRUE(absl::StrContains(log, "SIGHUP: probe-v4 changed")) << log;
  absl::StatusOr<int> health = HealthCheck((*d)->channel(), absl::Seconds(2));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);
  EXPECT_EQ(NodeTable(), table) << "SIGHUP changed the host table";

  // A broken file changes nothing and does not end the agent either.
  { std::ofstream(config) << "log-level: [\n"; }
  ASSERT_EQ(::kill((*d)->pid(), SIGHUP), 0);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE((*d)->Running()) << (*d)->Log();
  EXPECT_TRUE(absl::StrContains((*d)->Log(), "SIGHUP: configuration not reloaded")) << (*d)->Log();
  absl::StatusOr<int> stopped = (*d)->Stop(SIGTERM);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(ExitCode(*stopped), 0) << DescribeWait(*stopped);
}

// 17.4: SIGTERM with an idle connection and an open Watch stream ends the agent well within the
// grace it keeps for calls in flight, and the Watch stream ends.
TEST_F(ProcessLifecycleTest, SigtermEndsPromptlyWithAnIdleConnectionAndAWatchStream) {
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(DaemonOptions({}));
  ASSERT_TRUE(d.ok()) << d.status();
  // A client that connected and says nothing (no HTTP/2 preface, no GOAWAY handling).
  UniqueFd raw(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, (*d)->socket_path().c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::connect(raw.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // An idle gRPC connection: one call done, the channel kept open.
  auto idle =
      grpc::CreateChannel("unix:" + (*d)->socket_path(), grpc::InsecureChannelCredentials());
  absl::StatusOr<int> health = HealthCheck(idle, absl::Seconds(2));
  ASSERT_TRUE(health.ok()) << health.status();
  // A Watch stream waiting for events (open for sure: it delivered the initial state).
  auto stub = probesnat::v1::Enrollment::NewStub((*d)->channel());
  grpc::Status enrolled = Enroll(*stub, MakePod(kUidA, {a().v4, a().v6}, a().path(), "pod-a"));
  ASSERT_TRUE(enrolled.ok()) << Describe(enrolled);
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  probesnat::v1::WatchRequest req;
  req.set_initial_state(true);
  std::unique_ptr<grpc::ClientReader<probesnat::v1::Event>> reader = stub->Watch(&watch_ctx, req);
  probesnat::v1::Event first;
  ASSERT_TRUE(reader->Read(&first)) << "the Watch stream did not open";
  std::atomic<bool> watch_ended{false};
  std::thread watcher([&] {
    probesnat::v1::Event ev;
    while (reader->Read(&ev)) {
    }
    (void)reader->Finish();
    watch_ended = true;
  });

  const absl::Time sent = absl::Now();
  absl::StatusOr<int> stopped = (*d)->Stop(SIGTERM, absl::Seconds(10));
  const absl::Duration took = absl::Now() - sent;
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(ExitCode(*stopped), 0) << DescribeWait(*stopped) << "\n" << (*d)->Log();
  EXPECT_LT(took, absl::Seconds(1)) << "SIGTERM to exit took " << absl::FormatDuration(took) << "\n"
                                    << (*d)->Log();
  const absl::Time until = absl::Now() + absl::Seconds(5);
  while (!watch_ended && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(watch_ended) << "the Watch stream did not end when the agent exited";
  if (!watch_ended) {
    watch_ctx.TryCancel();
  }
  watcher.join();
}

}  // namespace
}  // namespace probesnat::integration
