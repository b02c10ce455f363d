// How probesnatd starts: refusing bad configuration, and serving on loopback TCP inside its
// namespace.
#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel_posix.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

class StartupTest : public AgentBinaryTest {
 protected:
  void SetUp() override {
    AgentBinaryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
  }

  absl::StatusOr<std::unique_ptr<Daemon>> Start(const std::vector<std::string>& args) {
    Daemon::Options o;
    o.node_netns = topo_->node().name();
    o.args = args;
    o.ready_timeout = absl::Seconds(5);
    return Daemon::Start(o);
  }
};

TEST_F(StartupTest, RefusesBadConfigurationAndSaysWhy) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--listen-tcp", "0.0.0.0:50071"}, "listen-tcp"},
      {{"--probe-v4", "not-an-ip"}, "probe-v4"},
      {{"--tunnel-port", "70000"}, "tunnel-port"},
      {{"--policy-mode", "sometimes"}, "policy-mode"},
      {{"--allowed-netns-root", "relative/dir"}, "allowed-netns-root"},
  };
  for (const auto& [args, option] : cases) {
    absl::StatusOr<std::unique_ptr<Daemon>> d = Start(args);
    EXPECT_FALSE(d.ok()) << "probesnatd started with " << args[0] << " " << args[1];
    if (!d.ok()) {
      EXPECT_TRUE(absl::StrContains(d.status().message(), "exited before it was ready"))
          << d.status();
      EXPECT_TRUE(absl::StrContains(d.status().message(), option))
          << "the error does not name " << option << ":\n"
          << d.status();
    }
  }
  // Nothing was left in the node namespace by the refused starts.
  EXPECT_FALSE(HasProbesnatTable(topo_->node().name()).value_or(true));
}

TEST_F(StartupTest, ServesOnLoopbackTcpInsideItsNamespace) {
  // The token file lives in the agent's own kind of private directory (root, mode 0600).
  char dir[] = "/tmp/psnt-token-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string token_file = std::string(dir) + "/token";
  const std::string token = "startup-test-token-0123456789";
  { std::ofstream(token_file) << token << "\n"; }
  ASSERT_EQ(::chmod(token_file.c_str(), 0600), 0);
  absl::StatusOr<std::unique_ptr<Daemon>> d =
      Start({"--allowed-netns-root", "/run/netns", "--listen-tcp", "127.0.0.1:50071",
             "--listen-tcp-token-file", token_file});
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(d.ok()) << d.status();
  // A TCP connection made inside the node namespace, handed to gRPC as the channel's transport.
  absl::StatusOr<Connection> c = Connect(fd_node(), Endpoint{"127.0.0.1", 50071});
  ASSERT_TRUE(c.ok()) << c.status();
  int fd = c->fd.release();
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateInsecureChannelFromFd("node-loopback", fd);
  absl::StatusOr<int> health = HealthCheck(channel, absl::Seconds(5), token);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);
  auto stub = probesnat::v1::Enrollment::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  ctx.AddMetadata("authorization", "Bearer " + token);
  probesnat::v1::EnrollRequest req;
  *req.mutable_pod() = MakePod(kUidA, {a().v4, a().v6}, a().path(), "pod-a");
  probesnat::v1::EnrollResponse resp;
  grpc::Status st = stub->Enroll(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
  // The TCP listener is not reachable from outside the node's loopback.
  absl::StatusOr<Connection> from_pod = Connect(fd_b(), Endpoint{kNodeV4, 50071});
  EXPECT_FALSE(from_pod.ok()) << "reached probesnatd's TCP port from pod B";
}

}  // namespace
}  // namespace probesnat::integration
