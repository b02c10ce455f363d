// probesnatd under exactly the capabilities deploy/daemonset.yaml grants (issue 14): root, as in
// the container, with the bounding set (and so the permitted and effective sets) cut down by
// setpriv to NET_ADMIN, SYS_ADMIN, SYS_PTRACE. Pods are enrolled by both path kinds: a
// /var/run/netns bind mount, and /proc/<pid>/ns/net of a process that runs in the pod's namespace
// under a non-root uid, as a pod's processes do; that uid is what makes the kernel's ptrace access
// check on the /proc link apply. Without SYS_PTRACE the /proc path is refused with
// FAILED_PRECONDITION naming the capability (never INVALID_ARGUMENT).
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "integration/tests/test_support.h"

namespace probesnat::integration {
namespace {

constexpr uid_t kPodUid = 65534;  // nobody: a pod's process is not root

// A process that has entered the network namespace `netns_fd` and runs `sleep` as kPodUid; killed
// and reaped on destruction.
class PodProcess {
 public:
  explicit PodProcess(int netns_fd) {
    pid_ = ::fork();
    if (pid_ == 0) {
      if (::setns(netns_fd, CLONE_NEWNET) != 0 || ::setgroups(0, nullptr) != 0 ||
          ::setresgid(kPodUid, kPodUid, kPodUid) != 0 ||
          ::setresuid(kPodUid, kPodUid, kPodUid) != 0) {
        ::_exit(126);
      }
      ::execlp("sleep", "sleep", "120", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~PodProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  PodProcess(const PodProcess&) = delete;
  PodProcess& operator=(const PodProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string netns_path() const { return absl::StrCat("/proc/", pid_, "/ns/net"); }

  // Waits until the process runs `sleep` under kPodUid in the namespace `netns_fd` (the test,
  // with all capabilities, may look).
  bool WaitReady(int netns_fd) const {
    struct stat want {};
    if (::fstat(netns_fd, &want) != 0) {
      return false;
    }
    for (int i = 0; i < 300; ++i) {
      struct stat got {};
      char exe[256] = {};
      const std::string exe_link = absl::StrCat("/proc/", pid_, "/exe");
      const ssize_t n = ::readlink(exe_link.c_str(), exe, sizeof(exe) - 1);
      if (::stat(netns_path().c_str(), &got) == 0 && got.st_ino == want.st_ino &&
          got.st_dev == want.st_dev && n > 0 && absl::StrContains(exe, "sleep") &&
          StatusField("Uid").rfind(absl::StrCat(kPodUid, "\t"), 0) == 0) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  std::string StatusField(const std::string& name) const { return ProcStatusField(pid_, name); }

  static std::string ProcStatusField(pid_t pid, const std::string& name) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
    std::string line;
    while (std::getline(in, line)) {
      if (absl::StartsWith(line, name + ":")) {
        return std::string(absl::StripAsciiWhitespace(line.substr(name.size() + 1)));
      }
    }
    return "";
  }

 private:
  pid_t pid_ = -1;
};

// A capability mask as /proc/<pid>/status prints it (16 hex digits).
std::string CapMask(std::initializer_list<int> caps) {
  uint64_t mask = 0;
  for (int c : caps) {
    mask |= uint64_t{1} << c;
  }
  std::ostringstream out;
  out << std::hex;
  out.width(16);
  out.fill('0');
  out << mask;
  return out.str();
}

class CapabilitiesTest : public TopologyTest {
 protected:
  void TearDown() override {
    if (daemon_ != nullptr && HasFailure()) {
      std::cerr << "--- probesnatd log (pid " << daemon_->pid() << ") ---\n"
                << daemon_->Log() << "---\n";
    }
    stub_.reset();
    daemon_.reset();
  }

  // probesnatd as root with exactly `caps` (setpriv names: net_admin, ...) in its bounding set,
  // which for root after exec are also its permitted and effective sets; no inheritable or
  // ambient capabilities, as a container runtime starts it.
  void StartWith(const std::vector<std::string>& caps, std::initializer_list<int> expected) {
    Daemon::Options o;
    o.node_netns = topo_->node().name();
    o.args = {"--allowed-netns-root", "/var/run/netns,/proc", "--resync-interval", "0"};
    o.exec_prefix = {"setpriv", absl::StrCat("--bounding-set=-all,+", absl::StrJoin(caps, ",+")),
                     "--inh-caps=-all", "--ambient-caps=-all", "--"};
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
    stub_ = daemon_->Enrollment();
    // The test is about this set: the running daemon has it and nothing more.
    const std::string mask = CapMask(expected);
    for (const char* set : {"CapBnd", "CapPrm", "CapEff"}) {
      EXPECT_EQ(PodProcess::ProcStatusField(daemon_->pid(), set), mask) << set;
    }
    EXPECT_EQ(PodProcess::ProcStatusField(daemon_->pid(), "CapAmb"), CapMask({}));
    EXPECT_EQ(PodProcess::ProcStatusField(daemon_->pid(), "Uid").rfind("0\t", 0), 0u);
  }

  std::string VarRunPath(const PodNetwork& pod) const {
    return absl::StrCat("/var/run/netns/", pod.name());
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub_;
};

TEST_F(CapabilitiesTest, TheDaemonSetsCapabilitiesEnrollByBothPathKinds) {
  ASSERT_EQ(::access("/var/run/netns", F_OK), 0);
  PodProcess pod_b(fd_b());
  ASSERT_TRUE(pod_b.WaitReady(fd_b()));
  StartWith({"net_admin", "sys_admin", "sys_ptrace"},
            {CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SYS_PTRACE});

  grpc::Status by_mount =
      Enroll(*stub_, MakePod(kUidA, {a().v4, a().v6}, VarRunPath(a()), "pod-a"));
  ASSERT_TRUE(by_mount.ok()) << Describe(by_mount);
  grpc::Status by_proc =
      Enroll(*stub_, MakePod(kUidB, {b().v4, b().v6}, pod_b.netns_path(), "pod-b"));
  ASSERT_TRUE(by_proc.ok()) << Describe(by_proc);
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
  EXPECT_TRUE(HasProbesnatTable(b().name()).value_or(false));
  EXPECT_EQ(ProbesnatSetElements(topo_->node().name()),
            (std::set<std::string>{a().v4, a().v6, b().v4, b().v6}));

  // The rules work: a node-originated connection to B arrives from the probe address.
  auto app = Listen(fd_b(), kPodBAppPort);
  ASSERT_TRUE(app);
  std::optional<Accepted> probe = ConnectAndAccept(fd_node(), b().v4, kPodBAppPort, *app);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->peer.ip, kProbeV4);

  // Removal works under the same set.
  ASSERT_TRUE(Unenroll(*stub_, kUidA).ok());
  ASSERT_TRUE(Unenroll(*stub_, kUidB).ok());
  EXPECT_FALSE(HasProbesnatTable(a().name()).value_or(true));
  EXPECT_FALSE(HasProbesnatTable(b().name()).value_or(true));
}

TEST_F(CapabilitiesTest, WithoutSysPtraceAProcPathIsFailedPreconditionNamingTheCapability) {
  PodProcess pod_b(fd_b());
  ASSERT_TRUE(pod_b.WaitReady(fd_b()));
  StartWith({"net_admin", "sys_admin"}, {CAP_NET_ADMIN, CAP_SYS_ADMIN});

  grpc::Status by_proc =
      Enroll(*stub_, MakePod(kUidB, {b().v4, b().v6}, pod_b.netns_path(), "pod-b"));
  EXPECT_EQ(by_proc.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(by_proc);
  EXPECT_TRUE(absl::StrContains(by_proc.error_message(), "CAP_SYS_PTRACE")) << Describe(by_proc);
  EXPECT_TRUE(absl::StrContains(by_proc.error_message(), pod_b.netns_path())) << Describe(by_proc);
  EXPECT_TRUE(absl::StrContains(by_proc.error_message(), "Permission denied")) << Describe(by_proc);
  EXPECT_FALSE(HasProbesnatTable(b().name()).value_or(true));
  EXPECT_TRUE(ProbesnatSetElements(topo_->node().name()).empty());

  // The bind mount needs no ptrace check: it still enrolls.
  grpc::Status by_mount =
      Enroll(*stub_, MakePod(kUidA, {a().v4, a().v6}, VarRunPath(a()), "pod-a"));
  ASSERT_TRUE(by_mount.ok()) << Describe(by_mount);
  EXPECT_TRUE(HasProbesnatTable(a().name()).value_or(false));
}

}  // namespace
}  // namespace probesnat::integration
