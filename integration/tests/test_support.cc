#include "integration/tests/test_support.h"

#include <sys/wait.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace probesnat::integration {

bool IsRoot() { return ::geteuid() == 0; }

ScopedDir::ScopedDir(const std::string& prefix) {
  std::string tmpl = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
}

ScopedDir::~ScopedDir() {
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

int ExitCode(int wait_status) { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1; }

void TopologyTest::SetUp() {
  if (!IsRoot()) {
    GTEST_SKIP() << "needs root (creates network namespaces)";
  }
  netfilter::testing::ScopedNetns::RemoveStale();
  absl::StatusOr<std::unique_ptr<Topology>> t = Topology::Create();
  ASSERT_TRUE(t.ok()) << t.status();
  topo_ = std::move(*t);
  auto open = [](const std::string& path, UniqueFd& out) {
    absl::StatusOr<UniqueFd> fd = netfilter::OpenNetns(path);
    ASSERT_TRUE(fd.ok()) << fd.status();
    out = std::move(*fd);
  };
  open(topo_->node().path(), node_fd_);
  open(a().path(), a_fd_);
  open(b().path(), b_fd_);
  open(topo_->outside().path(), outside_fd_);
}

Daemon::Options TopologyTest::DaemonOptions(const std::vector<std::string>& extra,
                                            const std::string& socket, bool wait_ready) const {
  Daemon::Options o;
  o.node_netns = topo_->node().name();
  o.args = {"--allowed-netns-root", "/run/netns", "--resync-interval", "0"};
  o.args.insert(o.args.end(), extra.begin(), extra.end());
  o.socket_path = socket;
  o.wait_ready = wait_ready;
  o.ready_timeout = absl::Seconds(10);
  return o;
}

std::unique_ptr<Listener> TopologyTest::Listen(int fd, uint16_t port) {
  absl::StatusOr<Listener> l = Listener::Create(fd, port);
  EXPECT_TRUE(l.ok()) << "listen on " << port << ": " << l.status();
  if (!l.ok()) {
    return nullptr;
  }
  return std::make_unique<Listener>(std::move(*l));
}

std::optional<Accepted> TopologyTest::ConnectAndAccept(int fd, const std::string& ip, uint16_t port,
                                                       Listener& listener,
                                                       const ConnectOptions& options) {
  Endpoint to{ip, port};
  const absl::Time start = absl::Now();
  absl::StatusOr<Connection> c = Connect(fd, to, options);
  const absl::Duration took = absl::Now() - start;
  if (took > absl::Milliseconds(500)) {
    // A SYN was retransmitted (the first was dropped somewhere): worth knowing, not a failure.
    std::cout << "[ SLOW     ] connect to " << to.ToString() << " took "
              << absl::FormatDuration(took) << "\n";
  }
  EXPECT_TRUE(c.ok()) << "connect to " << to.ToString() << ": " << c.status();
  if (!c.ok()) {
    return std::nullopt;
  }
  absl::StatusOr<Accepted> a = listener.Accept(kArrive);
  EXPECT_TRUE(a.ok()) << "connection to " << to.ToString() << " (from " << c->local.ToString()
                      << ") did not reach the listener on port " << listener.port() << ": "
                      << a.status();
  if (!a.ok()) {
    return std::nullopt;
  }
  return std::move(*a);
}

void TopologyTest::InstallNodePort(bool masquerade) {
  std::string ruleset = absl::StrCat(
      "table inet test_nodeport {\n"
      "  chain prerouting {\n"
      "    type nat hook prerouting priority dstnat; policy accept;\n"
      "    ip daddr ",
      kNodeOutsideV4, " tcp dport ", kNodePort, " dnat ip to ", a().v4, ":", kAppPort,
      "\n"
      "    ip6 daddr ",
      kNodeOutsideV6, " tcp dport ", kNodePort, " dnat ip6 to [", a().v6, "]:", kAppPort,
      "\n"
      "  }\n");
  if (masquerade) {
    absl::StrAppend(&ruleset,
                    "  chain postrouting {\n"
                    "    type nat hook postrouting priority srcnat; policy accept;\n"
                    "    ct status dnat oifname \"",
                    a().node_if,
                    "\" masquerade\n"
                    "  }\n");
  }
  absl::StrAppend(&ruleset, "}\n");
  PSNT_ASSERT_OK(NftApply(topo_->node().name(), ruleset));
}

void AgentBinaryTest::SetUp() {
  TopologyTest::SetUp();
  if (IsSkipped() || HasFatalFailure()) {
    return;
  }
  if (ProbesnatdPath().empty()) {
    GTEST_SKIP() << "probesnatd was not built (set PROBESNATD to its path)";
  }
}

void AgentTest::SetUp() {
  AgentBinaryTest::SetUp();
  if (IsSkipped() || HasFatalFailure()) {
    return;
  }
  StartDaemon();
}

void AgentTest::StartDaemon(const std::vector<std::string>& extra) {
  stub_.reset();
  daemon_.reset();
  Daemon::Options o;
  o.node_netns = topo_->node().name();
  o.args = {"--allowed-netns-root", "/run/netns", "--log-level", "info"};
  o.args.insert(o.args.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
  ASSERT_TRUE(d.ok()) << d.status();
  daemon_ = std::move(*d);
  stub_ = daemon_->Enrollment();
}

void AgentTest::TearDown() {
  if (daemon_ != nullptr && HasFailure()) {
    std::cerr << "--- probesnatd log (pid " << daemon_->pid() << ") ---\n"
              << daemon_->Log() << "---\n";
  }
  stub_.reset();
  daemon_.reset();
}

probesnat::v1::Pod AgentTest::PodA() const {
  return MakePod(kUidA, {topo_->pod(0).v4, topo_->pod(0).v6}, topo_->pod(0).path(), "pod-a");
}

probesnat::v1::Pod AgentTest::PodB() const {
  return MakePod(kUidB, {topo_->pod(1).v4, topo_->pod(1).v6}, topo_->pod(1).path(), "pod-b");
}

void AgentTest::MustEnroll(const probesnat::v1::Pod& pod) {
  grpc::Status st = Enroll(*stub_, pod);
  ASSERT_TRUE(st.ok()) << "Enroll " << pod.uid() << ": " << Describe(st);
}

}  // namespace probesnat::integration
