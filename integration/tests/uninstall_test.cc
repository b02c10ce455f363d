// Upgrade or uninstall (issue 14): a SIGTERM without a request keeps every table for the next agent
// (restart, rolling update); `probesnatctl uninstall` and then SIGTERM removes the node's table,
// every pod table and the state file, so pod traffic flows directly again; a request found at start
// was made for an earlier agent and is discarded. The real probesnatd and the real probesnatctl on
// a run directory the test owns, real connections.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// `probesnatctl uninstall --run-dir dir`, in the test's own (root) namespace: it only writes a
// file.
CommandResult RunProbesnatctlUninstall(const std::string& run_dir) {
  CommandResult r;
  const std::string cmd =
      absl::StrCat(PROBESNATCTL_PATH, " uninstall --run-dir ", run_dir, " 2>&1");
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    r.output.append(buf, n);
  }
  r.exit_code = ExitCode(::pclose(p));
  return r;
}

// Pods A and B with the listeners a meshed pod has, and probesnatd on a run directory the test
// owns (socket, default state file, lock and request files), so that they outlive each agent.
class UninstallTest : public AgentBinaryTest {
 protected:
  void SetUp() override {
    AgentBinaryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    run_dir_ = std::make_unique<ScopedDir>("psnt-uninstall");
    ASSERT_FALSE(run_dir_->path().empty());
    app_a_ = Listen(fd_a(), kAppPort);
    inbound_a_ = Listen(fd_a(), kInboundPort);
    outbound_a_ = Listen(fd_a(), kOutboundPort);
    app_b_ = Listen(fd_b(), kPodBAppPort);
    outbound_b_ = Listen(fd_b(), kOutboundPort);
    ASSERT_TRUE(app_a_ && inbound_a_ && outbound_a_ && app_b_ && outbound_b_);
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << earlier_logs_;
      if (daemon_ != nullptr) {
        std::cerr << "--- probesnatd log (pid " << daemon_->pid() << ") ---\n"
                  << daemon_->Log() << "---\n";
      }
    }
    stub_.reset();
    daemon_.reset();
  }

  std::string run_dir() const { return run_dir_->path(); }
  std::string state_file() const { return run_dir() + "/state"; }
  std::string request_file() const { return run_dir() + "/uninstall-requested"; }
  std::string uninstalled_record() const { return run_dir() + "/uninstalled"; }

  void Start(const std::vector<std::string>& extra = {}) {
    KeepLog();
    stub_.reset();
    daemon_.reset();
    Daemon::Options o;
    o.node_netns = topo_->node().name();
    o.socket_path = run_dir() + "/probesnatd.sock";
    o.args = {"--allowed-netns-root", "/run/netns", "--log-level", "info",
              "--resync-interval",    "0"};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    o.ready_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    stub_ = daemon_->Enrollment();
  }

  // Stops the agent with `sig`; SIGTERM must end it with exit 0.
  void StopAgent(int sig) {
    ASSERT_NE(daemon_, nullptr);
    absl::StatusOr<int> status = daemon_->Stop(sig);
    ASSERT_TRUE(status.ok()) << status.status();
    if (sig == SIGTERM) {
      ASSERT_EQ(ExitCode(*status), 0) << "wait status " << *status;
    }
  }

  void KeepLog() {
    if (daemon_ != nullptr) {
      earlier_logs_ += absl::StrCat("--- probesnatd log (pid ", daemon_->pid(), ") ---\n",
                                    daemon_->Log(), "---\n");
    }
  }

  void EnrollBoth() {
    for (const probesnat::v1::Pod& pod : {MakePod(kUidA, {a().v4, a().v6}, a().path(), "pod-a"),
                                          MakePod(kUidB, {b().v4, b().v6}, b().path(), "pod-b")}) {
      grpc::Status st = Enroll(*stub_, pod);
      ASSERT_TRUE(st.ok()) << "Enroll " << pod.uid() << ": " << Describe(st);
    }
  }

  void ExpectTables(bool present) {
    for (const std::string& ns : {topo_->node().name(), a().name(), b().name()}) {
      absl::StatusOr<bool> table = HasProbesnatTable(ns);
      ASSERT_TRUE(table.ok()) << table.status();
      EXPECT_EQ(*table, present) << "probesnat table " << (present ? "missing" : "left") << " in "
                                 << ns << ":\n"
                                 << ProbesnatTableText(ns);
    }
  }

  void ExpectNothingElsePending() {
    for (Listener* l :
         {app_a_.get(), inbound_a_.get(), outbound_a_.get(), app_b_.get(), outbound_b_.get()}) {
      EXPECT_FALSE(l->HasPending(kQuiet))
          << "listener on port " << l->port() << " of "
          << (l == app_b_.get() || l == outbound_b_.get() ? "B" : "A") << " also got a connection";
    }
  }

  // Both pods enrolled: inbound to A goes to A's 15006, A's outbound to A's 15001, node to pod is
  // SNATed to the probe address.
  void ExpectCaptured() {
    SCOPED_TRACE("captured");
    for (const auto& [dst, src] : {std::pair{a().v4, b().v4}, std::pair{a().v6, b().v6}}) {
      // Marked: B's own outbound capture lets its proxy's traffic through; A captures it inbound.
      std::optional<Accepted> in = ConnectAndAccept(fd_b(), dst, kAppPort, *inbound_a_, Marked());
      ASSERT_TRUE(in.has_value());
      EXPECT_EQ(in->peer.ip, src);
      ASSERT_TRUE(in->original_dst.has_value());
      EXPECT_EQ(*in->original_dst, (Endpoint{dst, kAppPort}));
    }
    for (const std::string& dst : {b().v4, b().v6}) {
      std::optional<Accepted> out = ConnectAndAccept(fd_a(), dst, kPodBAppPort, *outbound_a_);
      ASSERT_TRUE(out.has_value());
      EXPECT_EQ(out->local.port, kOutboundPort);
    }
    for (const auto& [dst, probe] : {std::pair{a().v4, kProbeV4}, std::pair{a().v6, kProbeV6}}) {
      std::optional<Accepted> probed = ConnectAndAccept(fd_node(), dst, kAppPort, *app_a_);
      ASSERT_TRUE(probed.has_value());
      EXPECT_EQ(probed->peer.ip, probe);
    }
    ExpectNothingElsePending();
  }

  // Nothing of probesnat left: every connection reaches the application it was sent to, from the
  // address it was sent from.
  void ExpectDirect() {
    SCOPED_TRACE("direct");
    for (const auto& [dst, src] : {std::pair{a().v4, b().v4}, std::pair{a().v6, b().v6}}) {
      std::optional<Accepted> in = ConnectAndAccept(fd_b(), dst, kAppPort, *app_a_);
      ASSERT_TRUE(in.has_value()) << (inbound_a_->HasPending() ? "captured to A's 15006" : "")
                                  << (outbound_b_->HasPending() ? "captured to B's 15001" : "");
      EXPECT_EQ(in->peer.ip, src);
      EXPECT_EQ(in->local, (Endpoint{dst, kAppPort}));
    }
    for (const auto& [dst, src] : {std::pair{b().v4, a().v4}, std::pair{b().v6, a().v6}}) {
      std::optional<Accepted> out = ConnectAndAccept(fd_a(), dst, kPodBAppPort, *app_b_);
      ASSERT_TRUE(out.has_value()) << (outbound_a_->HasPending() ? "captured to A's 15001" : "");
      EXPECT_EQ(out->peer.ip, src);
    }
    for (const auto& [dst, node_ip] : {std::pair{a().v4, kNodeV4}, std::pair{a().v6, kNodeV6}}) {
      std::optional<Accepted> probed = ConnectAndAccept(fd_node(), dst, kAppPort, *app_a_);
      ASSERT_TRUE(probed.has_value());
      EXPECT_EQ(probed->peer.ip, node_ip) << "node to pod still SNATed";
    }
    ExpectNothingElsePending();
  }

  std::unique_ptr<ScopedDir> run_dir_;  // before daemon_: the daemon stops before it is removed
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub_;
  std::unique_ptr<Listener> app_a_, inbound_a_, outbound_a_, app_b_, outbound_b_;
  std::string earlier_logs_;
};

TEST_F(UninstallTest, SigtermWithoutARequestKeepsEverythingForTheNextAgent) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());

  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "rules stay in place: no uninstall requested"))
      << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(ExpectTables(true));
  EXPECT_TRUE(Exists(state_file()));
  // Between the two agents (a rolling update) the pods stay captured.
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());

  ASSERT_NO_FATAL_FAILURE(Start());
  probesnat::v1::ListResponse list;
  grpc::Status st = List(*stub_, &list);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(list.pods_size(), 2);
  for (const probesnat::v1::PodStatus& pod : list.pods()) {
    EXPECT_EQ(pod.phase(), probesnat::v1::POD_PHASE_APPLIED) << pod.pod().uid() << pod.reason();
  }
  ASSERT_NO_FATAL_FAILURE(ExpectTables(true));
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());
}

TEST_F(UninstallTest, RequestThenSigtermRemovesEveryTableAndTheStateFile) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());
  ASSERT_TRUE(Exists(state_file()));

  CommandResult ctl = RunProbesnatctlUninstall(run_dir());
  ASSERT_EQ(ctl.exit_code, 0) << ctl.output;
  EXPECT_TRUE(absl::StrContains(ctl.output, absl::StrCat("probesnatd (pid ", daemon_->pid(), ")")))
      << ctl.output;
  ASSERT_TRUE(Exists(request_file()));
  // The request alone changes nothing: the agent acts on it when it stops.
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());

  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  const std::string log = daemon_->Log();
  EXPECT_TRUE(absl::StrContains(
      log, "uninstall done: removed 2 pod tables and the host table, deleted the state file"))
      << log;
  ASSERT_NO_FATAL_FAILURE(ExpectTables(false));
  ASSERT_NO_FATAL_FAILURE(ExpectDirect());
  EXPECT_FALSE(Exists(state_file())) << "state file left";
  EXPECT_FALSE(Exists(request_file())) << "request left";
  EXPECT_TRUE(absl::StrContains(ReadFile(uninstalled_record()), "removed 2 pod tables"))
      << "uninstalled record: " << ReadFile(uninstalled_record());

  // Installed again later: a fresh agent with nothing to re-adopt, and the record of the earlier
  // uninstall gone.
  ASSERT_NO_FATAL_FAILURE(Start());
  probesnat::v1::ListResponse list;
  grpc::Status st = List(*stub_, &list);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(list.pods_size(), 0);
  EXPECT_FALSE(Exists(uninstalled_record()));
  absl::StatusOr<bool> node_table = HasProbesnatTable(topo_->node().name());
  ASSERT_TRUE(node_table.ok()) << node_table.status();
  EXPECT_TRUE(*node_table);
}

TEST_F(UninstallTest, RequestFoundAtStartIsDiscardedAndTheNewAgentKeepsItsRules) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  CommandResult ctl = RunProbesnatctlUninstall(run_dir());
  ASSERT_EQ(ctl.exit_code, 0) << ctl.output;
  // The agent the request was made for is replaced before it stops cleanly (a crash, an OOM kill).
  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGKILL));
  ASSERT_TRUE(Exists(request_file()));

  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "found an uninstall request at start"))
      << daemon_->Log();
  EXPECT_FALSE(Exists(request_file())) << "request kept by the new agent";
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());

  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "rules stay in place")) << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(ExpectTables(true));
  EXPECT_TRUE(Exists(state_file()));
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());
}

TEST_F(UninstallTest, CleanupOnExitStillRemovesTablesButKeepsTheStateFile) {
  KeepLog();
  Daemon::Options o;
  o.node_netns = topo_->node().name();
  o.socket_path = run_dir() + "/probesnatd.sock";
  o.args = {"--allowed-netns-root", "/run/netns", "--resync-interval", "0", "--cleanup-on-exit"};
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
  ASSERT_TRUE(d.ok()) << d.status();
  daemon_ = std::move(*d);
  stub_ = daemon_->Enrollment();
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "cleanup on exit: removed every pod table (2)"))
      << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(ExpectTables(false));
  EXPECT_TRUE(Exists(state_file()));
  EXPECT_FALSE(Exists(uninstalled_record()));
  ASSERT_NO_FATAL_FAILURE(ExpectDirect());
}

// ---------------------------------------------------------------------------------------------
// --uninstall-with-daemonset: the agent asks the Kubernetes API about its own DaemonSet at SIGTERM.

constexpr char kDaemonSet[] = "probesnat-system/probesnat";
constexpr char kDaemonSetPath[] = "/apis/apps/v1/namespaces/probesnat-system/daemonsets/probesnat";

// A stand-in API server (fake_kubernetes_api.py): HTTPS with a self-signed certificate for
// 127.0.0.1 in the node namespace, and the credentials directory (token, ca.crt) the agent reads.
class FakeKubernetesApi {
 public:
  // The server accepts `server_token`; the credentials directory holds `client_token`.
  static absl::StatusOr<std::unique_ptr<FakeKubernetesApi>> Start(const std::string& netns,
                                                                  const std::string& server_token,
                                                                  const std::string& client_token) {
    std::unique_ptr<FakeKubernetesApi> api(new FakeKubernetesApi());
    const std::string& d = api->dir_.path();
    if (d.empty()) {
      return absl::InternalError("no temporary directory");
    }
    const std::string credentials = d + "/serviceaccount";
    std::filesystem::create_directory(credentials);
    const std::string openssl = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=kubernetes -addext subjectAltName=IP:127.0.0.1 -keyout ",
        d, "/key.pem -out ", credentials, "/ca.crt 2>/dev/null");
    if (std::system(openssl.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("failed: ", openssl));
    }
    std::ofstream(credentials + "/token") << client_token << "\n";
    api->SetState("present uid-1");
    const std::string port_file = d + "/port";
    std::vector<std::string> argv = {"ip",
                                     "netns",
                                     "exec",
                                     netns,
                                     "/usr/bin/python3",
                                     FAKE_KUBERNETES_API,
                                     "--cert",
                                     credentials + "/ca.crt",
                                     "--key",
                                     d + "/key.pem",
                                     "--token",
                                     server_token,
                                     "--state-file",
                                     d + "/state",
                                     "--port-file",
                                     port_file,
                                     "--log",
                                     d + "/requests",
                                     "--namespace",
                                     "probesnat-system",
                                     "--name",
                                     "probesnat"};
    std::vector<char*> args;
    for (std::string& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    api->pid_ = ::fork();
    if (api->pid_ == 0) {
      ::execvp("ip", args.data());
      ::_exit(127);
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!Exists(port_file)) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError("the fake API server did not start");
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    api->port_ = ReadFile(port_file);
    api->credentials_ = credentials;
    return api;
  }

  ~FakeKubernetesApi() { Stop(); }

  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  // "present UID", "deleting UID" or "gone".
  void SetState(const std::string& state) {
    std::ofstream(dir_.path() + "/state.tmp") << state << "\n";
    std::filesystem::rename(dir_.path() + "/state.tmp", dir_.path() + "/state");
  }

  // The agent's flags to reach this server.
  std::vector<std::string> AgentArgs() const {
    return {"--uninstall-with-daemonset",
            kDaemonSet,
            "--kubernetes-api",
            "https://127.0.0.1:" + port_,
            "--kubernetes-credentials-dir",
            credentials_};
  }

  // "GET <path> <status>" per request.
  std::string Requests() const { return ReadFile(dir_.path() + "/requests"); }

 private:
  FakeKubernetesApi() : dir_("psnt-kapi") {}

  ScopedDir dir_;
  pid_t pid_ = -1;
  std::string port_;
  std::string credentials_;
};

class DaemonSetUninstallTest : public UninstallTest {
 protected:
  void SetUp() override {
    UninstallTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    if (std::system("openssl version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "openssl is not installed";
    }
  }

  void StartApi(const std::string& server_token = "token-of-the-probesnat-sa",
                const std::string& client_token = "token-of-the-probesnat-sa") {
    absl::StatusOr<std::unique_ptr<FakeKubernetesApi>> api =
        FakeKubernetesApi::Start(topo_->node().name(), server_token, client_token);
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
  }

  void TearDown() override {
    if (HasFailure() && api_ != nullptr) {
      std::cerr << "--- fake API requests ---\n" << api_->Requests() << "---\n";
    }
    UninstallTest::TearDown();
    api_.reset();
  }

  std::unique_ptr<FakeKubernetesApi> api_;
};

TEST_F(DaemonSetUninstallTest, DaemonSetStillThereAtSigtermKeepsEverything) {
  ASSERT_NO_FATAL_FAILURE(StartApi());
  ASSERT_NO_FATAL_FAILURE(Start(api_->AgentArgs()));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(),
                                "DaemonSet probesnat-system/probesnat (uid uid-1) exists; SIGTERM "
                                "uninstalls"))
      << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "rules stay in place: no uninstall requested"))
      << daemon_->Log();
  const std::string get = absl::StrCat("GET ", kDaemonSetPath, " 200\n");
  EXPECT_EQ(api_->Requests(), get + get) << "asked at start and at stop";
  ASSERT_NO_FATAL_FAILURE(ExpectTables(true));
  EXPECT_TRUE(Exists(state_file()));
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());
}

struct GoneCase {
  const char* name;
  const char* state;   // the fake API's answer at SIGTERM
  const char* reason;  // what the agent logs and records
};

void PrintTo(const GoneCase& c, std::ostream* os) { *os << c.name; }

class DaemonSetGoneTest : public DaemonSetUninstallTest,
                          public ::testing::WithParamInterface<GoneCase> {};

TEST_P(DaemonSetGoneTest, UninstallsAndPodTrafficFlowsDirectly) {
  ASSERT_NO_FATAL_FAILURE(StartApi());
  ASSERT_NO_FATAL_FAILURE(Start(api_->AgentArgs()));
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());
  api_->SetState(GetParam().state);
  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  const std::string log = daemon_->Log();
  EXPECT_TRUE(absl::StrContains(log, GetParam().reason)) << log;
  EXPECT_TRUE(absl::StrContains(log, "uninstall done: removed 2 pod tables and the host table"))
      << log;
  ASSERT_NO_FATAL_FAILURE(ExpectTables(false));
  ASSERT_NO_FATAL_FAILURE(ExpectDirect());
  EXPECT_FALSE(Exists(state_file()));
  EXPECT_FALSE(Exists(request_file()));
  EXPECT_TRUE(absl::StrContains(ReadFile(uninstalled_record()), GetParam().reason))
      << "uninstalled record: " << ReadFile(uninstalled_record());
}

INSTANTIATE_TEST_SUITE_P(
    Api, DaemonSetGoneTest,
    ::testing::Values(
        GoneCase{"Deleted", "gone", "DaemonSet probesnat-system/probesnat is gone (404"},
        GoneCase{"BeingDeleted", "deleting uid-1",
                 "DaemonSet probesnat-system/probesnat is being deleted (deletionTimestamp"},
        GoneCase{"DeletedAndCreatedAgain", "present uid-2",
                 "was deleted and created again (uid uid-1 at start, now uid-2)"}),
    [](const ::testing::TestParamInfo<GoneCase>& info) { return info.param.name; });

TEST_F(DaemonSetUninstallTest, ApiUnreachableAtSigtermKeepsEverything) {
  ASSERT_NO_FATAL_FAILURE(StartApi());
  ASSERT_NO_FATAL_FAILURE(Start(api_->AgentArgs()));
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  api_->Stop();
  const absl::Time stop_start = absl::Now();
  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(5)) << "the API's answer was not bounded";
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "rules stay in place: no uninstall requested ("))
      << daemon_->Log();
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "the API could not say")) << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(ExpectTables(true));
  EXPECT_TRUE(Exists(state_file()));
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());
}

TEST_F(DaemonSetUninstallTest, ADaemonSetNotSeenAtStartIsNeverTakenForGone) {
  // The agent's token is refused (RBAC missing, wrong account): 401 at start, so a 404 later must
  // not count, or a misconfiguration would turn every rolling update into an uninstall.
  ASSERT_NO_FATAL_FAILURE(StartApi("the-real-token", "a-stale-token"));
  ASSERT_NO_FATAL_FAILURE(Start(api_->AgentArgs()));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "not seen at start")) << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(EnrollBoth());
  api_->SetState("gone");
  ASSERT_NO_FATAL_FAILURE(StopAgent(SIGTERM));
  EXPECT_TRUE(absl::StrContains(daemon_->Log(), "rules stay in place")) << daemon_->Log();
  ASSERT_NO_FATAL_FAILURE(ExpectTables(true));
  EXPECT_EQ(api_->Requests(), absl::StrCat("GET ", kDaemonSetPath, " 401\n"));
  ASSERT_NO_FATAL_FAILURE(ExpectCaptured());
}

}  // namespace
}  // namespace probesnat::integration
