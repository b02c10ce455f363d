// Who may drive probesnatd: TCP callers need the bearer token, the socket's directory must be
// private, a stale socket of another user is not replaced, and unix-socket peers are checked by
// their kernel credentials (SO_PEERCRED).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel_posix.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

constexpr uid_t kNobody = 65534;
constexpr char kToken[] = "s3cr3t-t0ken-0123456789abcdef";

std::string DemoClientPath() {
#ifdef PROBESNAT_DEMO_CLIENT_PATH
  return PROBESNAT_DEMO_CLIENT_PATH;
#else
  return "";
#endif
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs `command` through the shell; its exit code and combined output.
CommandResult RunShell(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) {
    r.output += buf;
  }
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class AccessTest : public AgentBinaryTest {
 protected:
  void SetUp() override {
    AgentBinaryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    ASSERT_FALSE(token_dir_.path().empty());
    token_file_ = token_dir_.path() + "/token";
    { std::ofstream(token_file_) << kToken << "\n"; }
    ASSERT_EQ(::chmod(token_file_.c_str(), 0600), 0);
  }

  // Starts an agent that must refuse to start; returns its exit code and its log.
  CommandResult StartRefused(const std::vector<std::string>& extra,
                             const std::string& socket = "") {
    CommandResult r;
    absl::StatusOr<std::unique_ptr<Daemon>> d =
        Daemon::Start(DaemonOptions(extra, socket, /*wait_ready=*/false));
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) {
      return r;
    }
    absl::StatusOr<int> exited = (*d)->WaitExit(absl::Seconds(10));
    EXPECT_TRUE(exited.ok()) << "the agent started: " << exited.status() << "\n" << (*d)->Log();
    r.output = (*d)->Log();
    r.exit_code = exited.ok() ? ExitCode(*exited) : -1;
    return r;
  }

  // The demo client run as `uid`:`gid` (no supplementary groups) against `socket`.
  CommandResult ClientAs(uid_t uid, gid_t gid, const std::string& socket,
                         const std::string& command) {
    return RunShell(absl::StrCat("setpriv --reuid ", uid, " --regid ", gid, " --clear-groups ",
                                 ClientCopy(), " ", command, " --socket ", socket));
  }

  // The checkout may lie where other users cannot reach (e.g. under /root): run a copy of the
  // client from a directory every user can read.
  std::string ClientCopy() {
    if (client_copy_.empty()) {
      client_copy_ = client_dir_.path() + "/probesnat_demo_client";
      std::error_code ec;
      std::filesystem::copy_file(DemoClientPath(), client_copy_, ec);
      EXPECT_FALSE(ec) << "copy " << DemoClientPath() << ": " << ec.message();
      EXPECT_EQ(::chmod(client_dir_.path().c_str(), 0755), 0);
      EXPECT_EQ(::chmod(client_copy_.c_str(), 0755), 0);
    }
    return client_copy_;
  }

  // Lets other users reach the socket, as an operator who loosened the modes would.
  void OpenToEveryone(const Daemon& d) {
    ASSERT_EQ(::chmod(d.dir().c_str(), 0755), 0);
    ASSERT_EQ(::chmod(d.socket_path().c_str(), 0666), 0);
  }

  std::string EnrollPodA() {
    return absl::StrCat("enroll --uid ", kUidA, " --ip ", a().v4, " --netns ", a().path());
  }

  ScopedDir token_dir_{"psnt-access"};
  std::string token_file_;
  ScopedDir client_dir_{"psnt-client"};
  std::string client_copy_;
};

// 16.6: --listen-tcp without a token file is refused (exit 2, naming the option).
TEST_F(AccessTest, TcpListenerNeedsATokenFile) {
  CommandResult r = StartRefused({"--listen-tcp", "127.0.0.1:50071"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "listen-tcp-token-file")) << r.output;
  EXPECT_FALSE(HasProbesnatTable(topo_->node().name()).value_or(true));
}

// 16.6: the token file must be root's and grant nothing to group and others.
TEST_F(AccessTest, TokenFileMustBePrivateToRoot) {
  ASSERT_EQ(::chmod(token_file_.c_str(), 0644), 0);
  CommandResult loose =
      StartRefused({"--listen-tcp", "127.0.0.1:50071", "--listen-tcp-token-file", token_file_});
  EXPECT_EQ(loose.exit_code, 2) << loose.output;
  EXPECT_TRUE(absl::StrContains(loose.output, token_file_)) << loose.output;
  EXPECT_TRUE(absl::StrContains(loose.output, "mode 0644")) << loose.output;

  ASSERT_EQ(::chmod(token_file_.c_str(), 0600), 0);
  ASSERT_EQ(::chown(token_file_.c_str(), kNobody, kNobody), 0);
  CommandResult foreign =
      StartRefused({"--listen-tcp", "127.0.0.1:50071", "--listen-tcp-token-file", token_file_});
  EXPECT_EQ(foreign.exit_code, 2) << foreign.output;
  EXPECT_TRUE(absl::StrContains(foreign.output, "owned by uid 65534")) << foreign.output;
  EXPECT_FALSE(HasProbesnatTable(topo_->node().name()).value_or(true));
}

// 16.6: over TCP, a call without the bearer token or with a wrong one is UNAUTHENTICATED and
// changes nothing; with the token it works.
TEST_F(AccessTest, TcpCallsNeedTheBearerToken) {
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(
      DaemonOptions({"--listen-tcp", "127.0.0.1:50071", "--listen-tcp-token-file", token_file_}));
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<Connection> c = Connect(fd_node(), Endpoint{"127.0.0.1", 50071});
  ASSERT_TRUE(c.ok()) << c.status();
  int fd = c->fd.release();
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateInsecureChannelFromFd("node-loopback", fd);
  auto stub = probesnat::v1::Enrollment::NewStub(channel);
  const probesnat::v1::Pod pod = MakePod(kUidA, {a().v4, a().v6}, a().path(), "pod-a");

  for (const std::string& authorization :
       {std::string(), std::string("Bearer wrong-token-0123456789"), std::string(kToken),
        absl::StrCat("Bearer ", kToken, "x")}) {
    SCOPED_TRACE(absl::StrCat("authorization \"", authorization, "\""));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    if (!authorization.empty()) {
      ctx.AddMetadata("authorization", authorization);
    }
    probesnat::v1::EnrollRequest req;
    *req.mutable_pod() = pod;
    probesnat::v1::EnrollResponse resp;
    grpc::Status st = stub->Enroll(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(st);
    EXPECT_TRUE(absl::StrContains(st.error_message(), "Bearer")) << Describe(st);
  }
  absl::StatusOr<int> anonymous_health = HealthCheck(channel, absl::Seconds(5));
  EXPECT_EQ(anonymous_health.status().code(), absl::StatusCode::kUnauthenticated)
      << anonymous_health.status();
  EXPECT_FALSE(HasProbesnatTable(a().name()).value_or(true)) << "an unauthenticated Enroll applied";

  absl::StatusOr<int> health = HealthCheck(channel, absl::Seconds(5), kToken);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  probesnat::v1::EnrollRequest req;
  *req.mutable_pod() = pod;
  probesnat::v1::EnrollResponse resp;
  grpc::Status st = stub->Enroll(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
}

// 16.7: a socket directory others can write is refused before anything is touched; so is one
// owned by another user.
TEST_F(AccessTest, SocketDirectoryOthersCanWriteIsRefused) {
  ScopedDir dir{"psnt-access"};
  ASSERT_FALSE(dir.path().empty());
  const std::string shared = dir.path() + "/shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
  CommandResult open = StartRefused({"--cleanup-on-exit"}, shared + "/probesnatd.sock");
  EXPECT_EQ(open.exit_code, 1) << open.output;
  EXPECT_TRUE(absl::StrContains(open.output, shared)) << open.output;
  EXPECT_TRUE(absl::StrContains(open.output, "mode 1777")) << open.output;
  EXPECT_FALSE(std::filesystem::exists(shared + "/probesnatd.sock"));

  const std::string foreign = dir.path() + "/foreign";
  ASSERT_EQ(::mkdir(foreign.c_str(), 0755), 0);
  ASSERT_EQ(::chown(foreign.c_str(), kNobody, kNobody), 0);
  CommandResult owned = StartRefused({}, foreign + "/probesnatd.sock");
  EXPECT_EQ(owned.exit_code, 1) << owned.output;
  EXPECT_TRUE(absl::StrContains(owned.output, "owner uid 65534")) << owned.output;

  // A directory whose parent others can write (without the sticky bit) is refused as well.
  const std::string parent = dir.path() + "/open-parent";
  ASSERT_EQ(::mkdir(parent.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(parent.c_str(), 0777), 0);
  CommandResult above = StartRefused({}, parent + "/run/probesnatd.sock");
  EXPECT_EQ(above.exit_code, 1) << above.output;
  EXPECT_TRUE(absl::StrContains(above.output, parent)) << above.output;
  EXPECT_FALSE(HasProbesnatTable(topo_->node().name()).value_or(true));
}

// Issue 10: a socket directory that is a symlink is refused (its owner could re-point it between
// the check and bind()), and so is a symlink above it owned by another user; nothing is bound at
// the directory it points to and the kernel is not touched.
TEST_F(AccessTest, PlantedSymlinkSocketDirectoriesAreRefused) {
  ScopedDir dir{"psnt-access"};
  ASSERT_FALSE(dir.path().empty());
  const std::string real = dir.path() + "/real";
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  const std::string link = dir.path() + "/link";
  ASSERT_EQ(::symlink(real.c_str(), link.c_str()), 0);
  CommandResult direct = StartRefused({}, link + "/probesnatd.sock");
  EXPECT_EQ(direct.exit_code, 1) << direct.output;
  EXPECT_TRUE(absl::StrContains(direct.output, link + " is a symlink")) << direct.output;
  EXPECT_FALSE(std::filesystem::exists(real + "/probesnatd.sock"));

  const std::string up = dir.path() + "/up";
  ASSERT_EQ(::symlink(dir.path().c_str(), up.c_str()), 0);
  ASSERT_EQ(::lchown(up.c_str(), kNobody, kNobody), 0);
  CommandResult above = StartRefused({}, up + "/real/probesnatd.sock");
  EXPECT_EQ(above.exit_code, 1) << above.output;
  EXPECT_TRUE(absl::StrContains(above.output, "owned by uid 65534")) << above.output;
  EXPECT_FALSE(std::filesystem::exists(real + "/probesnatd.sock"));
  EXPECT_FALSE(HasProbesnatTable(topo_->node().name()).value_or(true));
}

// 16.7: missing directories are created 0700 and the agent serves there.
TEST_F(AccessTest, MissingSocketDirectoryIsCreatedPrivate) {
  ScopedDir dir{"psnt-access"};
  ASSERT_FALSE(dir.path().empty());
  const std::string run = dir.path() + "/run/probesnat";
  absl::StatusOr<std::unique_ptr<Daemon>> d =
      Daemon::Start(DaemonOptions({}, run + "/probesnatd.sock"));
  ASSERT_TRUE(d.ok()) << d.status();
  for (const std::string& p : {dir.path() + "/run", run}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << p;
  }
  struct stat st {};
  ASSERT_EQ(::stat((run + "/probesnatd.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// 16.7: a stale socket at the path that belongs to another user is not replaced.
TEST_F(AccessTest, StaleSocketOfAnotherUserIsNotReplaced) {
  ScopedDir dir{"psnt-access"};
  ASSERT_FALSE(dir.path().empty());
  const std::string socket = dir.path() + "/probesnatd.sock";
  {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }  // closed without unlink: a stale socket file
  ASSERT_EQ(::lchown(socket.c_str(), kNobody, kNobody), 0);
  struct stat before {};
  ASSERT_EQ(::lstat(socket.c_str(), &before), 0);
  CommandResult r = StartRefused({}, socket);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "owned by uid 65534")) << r.output;
  struct stat after {};
  ASSERT_EQ(::lstat(socket.c_str(), &after), 0) << "the foreign socket was removed";
  EXPECT_EQ(after.st_ino, before.st_ino) << "the foreign socket was replaced";
  EXPECT_FALSE(HasProbesnatTable(topo_->node().name()).value_or(true));
}

// 16.8: with the socket chmod 0666, uid 65534 still cannot call: its connection is closed (and
// logged), nothing is enrolled; root can.
TEST_F(AccessTest, UnixSocketRefusesPeersThatAreNotAllowed) {
  ASSERT_FALSE(DemoClientPath().empty());
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(DaemonOptions({}));
  ASSERT_TRUE(d.ok()) << d.status();
  OpenToEveryone(**d);

  CommandResult nobody = ClientAs(kNobody, kNobody, (*d)->socket_path(), EnrollPodA());
  EXPECT_EQ(nobody.exit_code, 1) << nobody.output;
  EXPECT_TRUE(absl::StrContains(nobody.output, "UNAVAILABLE") ||
              absl::StrContains(nobody.output, "PERMISSION_DENIED"))
      << nobody.output;
  EXPECT_FALSE(HasProbesnatTable(a().name()).value_or(true)) << "uid 65534 enrolled a pod";
  auto stub = (*d)->Enrollment();
  probesnat::v1::ListResponse list;
  grpc::Status st = List(*stub, &list);
  ASSERT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(list.pods_size(), 0);
  EXPECT_TRUE(absl::StrContains((*d)->Log(), "uid 65534 gid 65534")) << (*d)->Log();

  CommandResult root = ClientAs(0, 0, (*d)->socket_path(), EnrollPodA());
  EXPECT_EQ(root.exit_code, 0) << root.output;
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
}

// 16.8: --allowed-uids and --allowed-gids admit other users, and only those.
TEST_F(AccessTest, AllowedUidsAndGidsAdmitOtherUsers) {
  ASSERT_FALSE(DemoClientPath().empty());
  absl::StatusOr<std::unique_ptr<Daemon>> d =
      Daemon::Start(DaemonOptions({"--allowed-uids", "65534", "--allowed-gids", "65532"}));
  ASSERT_TRUE(d.ok()) << d.status();
  OpenToEveryone(**d);
  CommandResult by_uid = ClientAs(kNobody, kNobody, (*d)->socket_path(), "list");
  EXPECT_EQ(by_uid.exit_code, 0) << by_uid.output;
  CommandResult by_gid = ClientAs(65533, 65532, (*d)->socket_path(), "list");
  EXPECT_EQ(by_gid.exit_code, 0) << by_gid.output;
  CommandResult neither = ClientAs(65533, 65533, (*d)->socket_path(), EnrollPodA());
  EXPECT_EQ(neither.exit_code, 1) << neither.output;
  EXPECT_FALSE(HasProbesnatTable(a().name()).value_or(true)) << "uid 65533 enrolled a pod";
  CommandResult allowed = ClientAs(kNobody, kNobody, (*d)->socket_path(), EnrollPodA());
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
}

}  // namespace
}  // namespace probesnat::integration
