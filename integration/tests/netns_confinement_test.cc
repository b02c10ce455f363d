// Issue 10, "Which namespace": paths a caller sends as netns_path that must not lead the agent
// anywhere but a pod's network namespace beneath an allowed root, against the real daemon. Each
// is refused with its code and reason; the daemon keeps serving; neither the node's table nor any
// pod namespace changes.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

constexpr char kUidX[] = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
constexpr char kIpX[] = "10.244.1.77";

class NetnsConfinementTest : public AgentTest {
 protected:
  void SetUp() override {
    TopologyTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    StartDaemon({"--allowed-netns-root", "/run/netns,/proc", "--resync-interval", "0"});
    char tmpl[] = "/tmp/psnt-confine-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    outside_dir_ = tmpl;
  }

  void TearDown() override {
    AgentTest::TearDown();
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
      ::umount2(it->c_str(), MNT_DETACH);
      ::unlink(it->c_str());
      ::rmdir(it->c_str());
    }
    if (!outside_dir_.empty()) {
      ::umount2((outside_dir_ + "/ns").c_str(), MNT_DETACH);
      std::system(absl::StrCat("rm -rf ", outside_dir_).c_str());
    }
  }

  // A path under /run/netns that this test owns (removed, with any mount on it, at the end).
  std::string OwnPath(const std::string& label) {
    std::string path = absl::StrCat("/run/netns/psnt-cft-", ::getpid(), "-", label);
    made_.push_back(path);
    return path;
  }

  // Bind mounts the namespace file `from` at `path` (as `ip netns add` does).
  void Bind(const std::string& from, const std::string& path) {
    std::ofstream(path) << "";
    ASSERT_EQ(::mount(from.c_str(), path.c_str(), nullptr, MS_BIND, nullptr), 0)
        << from << " -> " << path << ": " << std::strerror(errno);
  }

  // Pod A's namespace bind mounted outside every allowed root.
  std::string OutsideNamespaceFile() {
    const std::string path = outside_dir_ + "/ns";
    if (::access(path.c_str(), F_OK) != 0) {
      Bind(a().path(), path);
    }
    return path;
  }

  // Enrolls a pod at `path`: expects `code` with `detail` in the message, the daemon still
  // serving, and no kernel change in the node's or pod A's namespace.
  void ExpectRefusedUntouched(const std::string& path, grpc::StatusCode code,
                              const std::string& detail) {
    const std::string node_before = ProbesnatTableText(topo_->node().name());
    const absl::Time start = absl::Now();
    grpc::Status st = Enroll(*stub_, MakePod(kUidX, {kIpX}, path, "pod-x"));
    EXPECT_EQ(st.error_code(), code) << path << ": " << Describe(st);
    EXPECT_TRUE(absl::StrContains(st.error_message(), detail))
        << path << ": " << Describe(st) << " lacks \"" << detail << "\"";
    EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << path << " took long to refuse";
    absl::StatusOr<int> health = HealthCheck(daemon_->channel(), absl::Seconds(2));
    EXPECT_EQ(health.value_or(-1), 1) << "not SERVING after " << path;
    EXPECT_EQ(ProbesnatTableText(topo_->node().name()), node_before) << path;
    EXPECT_FALSE(HasProbesnatTable(a().name()).value_or(true)) << path;
    EXPECT_FALSE(ProbesnatSetHas(topo_->node().name(), kIpX)) << path;
  }

  std::string outside_dir_;
  std::vector<std::string> made_;
};

TEST_F(NetnsConfinementTest, ASymlinkBelowARootIsNotFollowedWhereverItPoints) {
  // To a namespace outside every root, to the agent's own namespace (standing in for
  // /proc/1/ns/net, the node's: the agent under test runs in the node namespace of the topology),
  // and to an allowed pod namespace: a symlink is never followed below a root.
  const std::string targets[] = {OutsideNamespaceFile(),
                                 absl::StrCat("/proc/", daemon_->pid(), "/ns/net"), a().path()};
  int i = 0;
  for (const std::string& target : targets) {
    const std::string link = OwnPath(absl::StrCat("link", i++));
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << std::strerror(errno);
    ExpectRefusedUntouched(link, grpc::StatusCode::INVALID_ARGUMENT, "symlink");
  }
}

TEST_F(NetnsConfinementTest, ASymlinkedDirectoryBelowARootIsNotFollowed) {
  OutsideNamespaceFile();
  const std::string dir_link = OwnPath("dir");
  ASSERT_EQ(::symlink(outside_dir_.c_str(), dir_link.c_str()), 0) << std::strerror(errno);
  ExpectRefusedUntouched(dir_link + "/ns", grpc::StatusCode::INVALID_ARGUMENT, "symlink");
}

TEST_F(NetnsConfinementTest, DotDotAndProcEscapesAreRefused) {
  ExpectRefusedUntouched("/run/netns/../../" + OutsideNamespaceFile().substr(1),
                         grpc::StatusCode::INVALID_ARGUMENT, "normalized");
  ExpectRefusedUntouched("/proc/self/ns/net", grpc::StatusCode::INVALID_ARGUMENT,
                         "not under an allowed network namespace root");
  ExpectRefusedUntouched(absl::StrCat("/proc/", daemon_->pid(), "/root", OutsideNamespaceFile()),
                         grpc::StatusCode::INVALID_ARGUMENT,
                         "not under an allowed network namespace root");
  ExpectRefusedUntouched(OutsideNamespaceFile(), grpc::StatusCode::INVALID_ARGUMENT,
                         "not under an allowed network namespace root");
}

TEST_F(NetnsConfinementTest, FilesThatAreNoNetworkNamespaceAreRefusedAtOnce) {
  const std::string uts = OwnPath("uts");
  Bind("/proc/self/ns/uts", uts);
  ExpectRefusedUntouched(uts, grpc::StatusCode::INVALID_ARGUMENT, "is not a network namespace");

  const std::string fifo = OwnPath("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  ExpectRefusedUntouched(fifo, grpc::StatusCode::INVALID_ARGUMENT, "is not a network namespace");

  const std::string file = OwnPath("file");
  std::ofstream(file) << "not a namespace";
  ExpectRefusedUntouched(file, grpc::StatusCode::INVALID_ARGUMENT, "is not a network namespace");

  const std::string dir = OwnPath("d");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ExpectRefusedUntouched(dir, grpc::StatusCode::INVALID_ARGUMENT, "is not a network namespace");
}

TEST_F(NetnsConfinementTest, TheAgentsOwnNamespaceIsRefused) {
  ExpectRefusedUntouched(absl::StrCat("/proc/", daemon_->pid(), "/ns/net"),
                         grpc::StatusCode::INVALID_ARGUMENT, "is the host network namespace");
  ExpectRefusedUntouched(absl::StrCat("/proc/", daemon_->pid(), "/task/", daemon_->pid(),
                                      "/ns/net"),
                         grpc::StatusCode::INVALID_ARGUMENT, "is the host network namespace");
}

// A process that enters a network namespace of its own, then lives for `micros` and exits.
// Returns once it is in that namespace (before, its /proc/<pid>/ns/net would be this test's).
pid_t ShortLivedNetnsProcess(int micros) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    return -1;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    if (::unshare(CLONE_NEWNET) != 0) {
      ::_exit(1);
    }
    char c = 1;
    (void)!::write(ready[1], &c, 1);
    ::usleep(micros);
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ssize_t n = ::read(ready[0], &c, 1);
  ::close(ready[0]);
  if (pid > 0 && n != 1) {
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

TEST_F(NetnsConfinementTest, AProcessThatExitsMidRequestFailsCleanly) {
  int enrolled = 0;
  int refused = 0;
  for (int i = 0; i < 30; ++i) {
    pid_t pid = ShortLivedNetnsProcess(i * 300);
    ASSERT_GT(pid, 0);
    grpc::Status st =
        Enroll(*stub_, MakePod(kUidX, {kIpX}, absl::StrCat("/proc/", pid, "/ns/net"), "pod-x"));
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    if (st.ok()) {
      // Enrolled while the process lived: the agent holds the namespace open, so Unenroll works.
      ++enrolled;
      grpc::Status un = Unenroll(*stub_, kUidX);
      EXPECT_TRUE(un.ok()) << Describe(un);
    } else {
      ++refused;
      EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);
      EXPECT_TRUE(absl::StrContains(st.error_message(), "does not exist") ||
                  absl::StrContains(st.error_message(), "is the host network namespace") ||
                  absl::StrContains(st.error_message(), "not a network namespace"))
          << Describe(st);
    }
    absl::StatusOr<int> health = HealthCheck(daemon_->channel(), absl::Seconds(2));
    ASSERT_EQ(health.value_or(-1), 1) << "not SERVING after round " << i;
    EXPECT_FALSE(ProbesnatSetHas(topo_->node().name(), kIpX)) << "round " << i;
  }
  // The first rounds exit before the request, the last ones after it.
  EXPECT_GT(refused, 0);
  std::cout << "short-lived pids: " << enrolled << " enrolled while alive, " << refused
            << " refused\n";
}

}  // namespace
}  // namespace probesnat::integration
