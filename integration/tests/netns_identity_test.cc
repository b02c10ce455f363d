// A pod's network namespace is known by identity, opened once at enroll, against the real
// daemon: a FIFO at the path does not wedge it, an alias of an enrolled namespace is refused, a
// path that comes to name another pod's namespace is never written through, and Unenroll reaches
// a namespace that outlives the path it was enrolled by.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

constexpr char kUidC[] = "9d2f3e4a-5b6c-4d7e-8f90-a1b2c3d4e5f6";

class NetnsIdentityTest : public AgentTest {
 protected:
  void SetUp() override {
    TopologyTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    StartDaemon({"--resync-interval", "200ms", "--allowed-netns-root", "/proc"});
  }

  void TearDown() override {
    AgentTest::TearDown();
    for (const std::string& path : made_) {
      ::umount2(path.c_str(), MNT_DETACH);
      ::unlink(path.c_str());
    }
  }

  // A path under /run/netns that this test owns (removed, with any mount on it, at the end).
  std::string OwnPath(const std::string& label) {
    std::string path = absl::StrCat("/run/netns/psnt-idt-", ::getpid(), "-", label);
    made_.push_back(path);
    return path;
  }

  // Bind mounts the namespace file `from` at `path` (as `ip netns add` does).
  void BindNamespace(const std::string& from, const std::string& path) {
    if (::access(path.c_str(), F_OK) != 0) {
      std::ofstream(path) << "";
    }
    ASSERT_EQ(::mount(from.c_str(), path.c_str(), nullptr, MS_BIND, nullptr), 0)
        << from << " -> " << path << ": " << std::strerror(errno);
  }

  void Unbind(const std::string& path) {
    ASSERT_EQ(::umount2(path.c_str(), MNT_DETACH), 0) << path << ": " << std::strerror(errno);
  }

  probesnat::v1::PodStatus StatusOf(const std::string& uid) {
    probesnat::v1::ListResponse list;
    grpc::Status st = List(*stub_, &list, absl::Seconds(2));
    EXPECT_TRUE(st.ok()) << Describe(st);
    for (const probesnat::v1::PodStatus& s : list.pods()) {
      if (s.pod().uid() == uid) {
        return s;
      }
    }
    ADD_FAILURE() << "pod " << uid << " is not listed";
    return {};
  }

  // Polls List until pod `uid` is in `phase` (the drift check runs every 200 ms); its last status.
  probesnat::v1::PodStatus WaitForPhase(const std::string& uid, probesnat::v1::PodPhase phase) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    probesnat::v1::PodStatus s = StatusOf(uid);
    while (s.phase() != phase && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
      s = StatusOf(uid);
    }
    return s;
  }

  std::vector<std::string> made_;
};

// A pod like A (its addresses) in namespace `path`, with inbound capture off so that its table
// differs from the table of a pod enrolled with the defaults.
probesnat::v1::Pod PodWithoutCapture(const std::string& uid, const std::vector<std::string>& ips,
                                     const std::string& path) {
  probesnat::v1::Pod pod = MakePod(uid, ips, path, "pod-x");
  pod.mutable_overrides()->set_disable_inbound_capture(true);
  return pod;
}

// 16.5: the enrolled path is replaced by a FIFO; the drift check must not block on it.
TEST_F(NetnsIdentityTest, AFifoAtAnEnrolledPathDoesNotWedgeTheDaemon) {
  const std::string path = OwnPath("fifo");
  BindNamespace(a().path(), path);
  MustEnroll(MakePod(kUidA, {a().v4, a().v6}, path, "pod-a"));
  Unbind(path);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  absl::SleepFor(absl::Milliseconds(600));  // several drift checks

  const absl::Time t0 = absl::Now();
  probesnat::v1::ListResponse list;
  grpc::Status st = List(*stub_, &list, absl::Seconds(2));
  EXPECT_TRUE(st.ok()) << Describe(st);
  st = Enroll(*stub_, PodB(), nullptr, absl::Seconds(2));
  EXPECT_TRUE(st.ok()) << Describe(st);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(3));
  probesnat::v1::PodStatus a_status = WaitForPhase(kUidA, probesnat::v1::POD_PHASE_FAILED);
  EXPECT_EQ(a_status.phase(), probesnat::v1::POD_PHASE_FAILED) << a_status.DebugString();

  // A FIFO at the path of a new pod is refused at once.
  st = Enroll(*stub_, MakePod(kUidC, {"10.244.1.99"}, path), nullptr, absl::Seconds(2));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);

  // Unenroll reaches pod A's namespace through the handle kept since enroll.
  st = Unenroll(*stub_, kUidA, nullptr, absl::Seconds(2));
  EXPECT_TRUE(st.ok()) << Describe(st);
  absl::StatusOr<bool> table = HasProbesnatTable(a().name());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_FALSE(*table) << NftTables(a().name()).value_or("");

  const absl::Time t1 = absl::Now();
  absl::StatusOr<int> exit_status = daemon_->Stop(SIGTERM, absl::Seconds(3));
  EXPECT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_LT(absl::Now() - t1, absl::Seconds(3));
}

// 16.10: another path to pod B's namespace is the same namespace: refused, naming B. A symlink
// below a namespace root is not followed at all (INVALID_ARGUMENT); a bind mount of B's namespace
// is another path to it (FAILED_PRECONDITION naming B).
TEST_F(NetnsIdentityTest, AnotherPathToAnEnrolledNamespaceIsRefusedAndLeavesItsTableAlone) {
  MustEnroll(PodB());
  const std::string b_table = ProbesnatTableText(b().name());
  ASSERT_FALSE(b_table.empty());
  const std::string alias = OwnPath("alias");
  ASSERT_EQ(::symlink(b().path().c_str(), alias.c_str()), 0) << std::strerror(errno);

  grpc::Status st = Enroll(*stub_, PodWithoutCapture(kUidC, {"10.244.1.99"}, alias));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(st);
  EXPECT_NE(st.error_message().find("symlink"), std::string::npos) << Describe(st);
  EXPECT_EQ(ProbesnatTableText(b().name()), b_table);

  const std::string bound = OwnPath("bound");
  BindNamespace(b().path(), bound);
  st = Enroll(*stub_, PodWithoutCapture(kUidC, {"10.244.1.99"}, bound));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(st);
  EXPECT_NE(st.error_message().find(kUidB), std::string::npos) << Describe(st);
  EXPECT_EQ(ProbesnatTableText(b().name()), b_table);

  st = Unenroll(*stub_, kUidC);
  EXPECT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(ProbesnatTableText(b().name()), b_table);
  EXPECT_EQ(StatusOf(kUidB).phase(), probesnat::v1::POD_PHASE_APPLIED);
}

// 16.11, simulated: pod A's path comes to name pod B's namespace (as /proc/<pid>/ns/net does when
// A's pid is reused by a process in B's namespace). The drift check must not write A's table into
// B's namespace; A is reported FAILED.
TEST_F(NetnsIdentityTest, APathThatComesToNameAnotherPodsNamespaceIsNeverWrittenThrough) {
  const std::string path = OwnPath("reused");
  BindNamespace(a().path(), path);
  MustEnroll(PodWithoutCapture(kUidA, {a().v4, a().v6}, path));
  MustEnroll(PodB());
  const std::string a_table = ProbesnatTableText(a().name());
  const std::string b_table = ProbesnatTableText(b().name());
  ASSERT_NE(a_table, b_table);

  Unbind(path);
  BindNamespace(b().path(), path);
  probesnat::v1::PodStatus a_status = WaitForPhase(kUidA, probesnat::v1::POD_PHASE_FAILED);
  absl::SleepFor(absl::Milliseconds(600));  // more drift checks

  EXPECT_EQ(ProbesnatTableText(b().name()), b_table) << "pod A's table was written into B's";
  EXPECT_EQ(a_status.phase(), probesnat::v1::POD_PHASE_FAILED) << a_status.DebugString();
  EXPECT_NE(a_status.reason().find("another namespace"), std::string::npos) << a_status.reason();
  EXPECT_FALSE(ProbesnatSetHas(topo_->node().name(), a().v4));  // withdrawn
  EXPECT_EQ(StatusOf(kUidB).phase(), probesnat::v1::POD_PHASE_APPLIED);

  // Unenroll of A removes A's table from A's own namespace, and nothing of B's.
  grpc::Status st = Unenroll(*stub_, kUidA);
  EXPECT_TRUE(st.ok()) << Describe(st);
  EXPECT_EQ(ProbesnatTableText(b().name()), b_table);
  absl::StatusOr<bool> table = HasProbesnatTable(a().name());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_FALSE(*table) << NftTables(a().name()).value_or("");
}

// A `sleep` running inside namespace `ns` (named), stopped and reaped by the destructor.
class ProcessInNamespace {
 public:
  explicit ProcessInNamespace(const std::string& ns) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("ip", "ip", "netns", "exec", ns.c_str(), "sleep", "60", nullptr);
      ::_exit(127);
    }
  }
  ~ProcessInNamespace() { Kill(); }

  pid_t pid() const { return pid_; }
  std::string NetnsPath() const { return absl::StrCat("/proc/", pid_, "/ns/net"); }

  // Waits until the process is in the namespace whose file is `ns_path` (ip has exec'd sleep).
  bool WaitInside(const std::string& ns_path) const {
    struct stat want {};
    if (::stat(ns_path.c_str(), &want) != 0) {
      return false;
    }
    for (int i = 0; i < 100; ++i) {
      struct stat now {};
      if (::stat(NetnsPath().c_str(), &now) == 0 && now.st_ino == want.st_ino &&
          now.st_dev == want.st_dev) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

// 18.1: enrolled by /proc/<pid>/ns/net; the process exits while the namespace lives on (its
// ip-netns bind mount). Unenroll must still remove the table from that namespace.
TEST_F(NetnsIdentityTest, UnenrollRemovesTheTableAfterTheEnrolledProcessExited) {
  ProcessInNamespace sleeper(a().name());
  ASSERT_GT(sleeper.pid(), 0);
  ASSERT_TRUE(sleeper.WaitInside(a().path()));
  MustEnroll(MakePod(kUidA, {a().v4, a().v6}, sleeper.NetnsPath(), "pod-a"));
  absl::StatusOr<bool> table = HasProbesnatTable(a().name());
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_TRUE(*table);

  sleeper.Kill();
  // The drift check sees the path gone.
  EXPECT_EQ(WaitForPhase(kUidA, probesnat::v1::POD_PHASE_FAILED).phase(),
            probesnat::v1::POD_PHASE_FAILED);
  grpc::Status st = Unenroll(*stub_, kUidA);
  EXPECT_TRUE(st.ok()) << Describe(st);
  table = HasProbesnatTable(a().name());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_FALSE(*table) << "probesnat table left in pod A's namespace:\n"
                       << NftTables(a().name()).value_or("");
}

}  // namespace
}  // namespace probesnat::integration
