// Opening a network namespace by path never blocks and says what the path is; a handle keeps
// reaching its namespace whatever happens to the path. Real kernel, inside namespaces the test
// creates and removes.
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netfilter/backend.h"
#include "netfilter/netns.h"
#include "netfilter/nftables_backend.h"
#include "netfilter/testing/capabilities.h"
#include "netfilter/testing/scoped_child.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter {
namespace {

using testing::DropEffectiveCapability;
using testing::RunAndCapture;
using testing::ScopedNetns;
using testing::StatusInChild;

#define REQUIRE_ROOT()                                                                    \
  if (::geteuid() != 0) {                                                                 \
    GTEST_SKIP() << "needs root: creates network namespaces and nftables tables in them"; \
  }

// A scratch directory removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/psnt-netns-open-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() { std::system(absl::StrCat("rm -rf ", path_).c_str()); }
  std::string Path(const std::string& name) const { return absl::StrCat(path_, "/", name); }

 private:
  std::string path_;
};

// OpenNetns on another thread; fails the test (and unblocks the thread by opening the FIFO's
// other end) if it has not answered within two seconds.
absl::StatusOr<UniqueFd> OpenWithin2s(const std::string& path, const std::string& fifo) {
  auto pending = std::async(std::launch::async, [path] { return OpenNetns(path); });
  if (pending.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    ADD_FAILURE() << "OpenNetns(" << path << ") blocked";
    UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
  }
  return pending.get();
}

TEST(OpenNetnsTest, AFifoIsInvalidArgumentAtOnce) {
  ScratchDir dir;
  const std::string fifo = dir.Path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<UniqueFd> fd = OpenWithin2s(fifo, fifo);
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
  EXPECT_TRUE(absl::StrContains(fd.status().message(), fifo)) << fd.status();

  const std::string link = dir.Path("link-to-fifo");
  ASSERT_EQ(::symlink(fifo.c_str(), link.c_str()), 0);
  fd = OpenWithin2s(link, fifo);
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
}

TEST(OpenNetnsTest, RegularFilesDirectoriesAndOtherNamespacesAreInvalidArgument) {
  ScratchDir dir;
  const std::string regular = dir.Path("regular");
  UniqueFd created(::open(regular.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(created.valid());
  for (const std::string& path : {regular, dir.Path(""), std::string("/proc/self/ns/uts")}) {
    absl::StatusOr<UniqueFd> fd = OpenNetns(path);
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument)
        << path << ": " << fd.status();
  }
  EXPECT_EQ(OpenNetns(std::string("/proc/self/ns/net\0x", 19)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OpenNetnsTest, MissingPathsAndDanglingSymlinksAreNotFound) {
  ScratchDir dir;
  const std::string dangling = dir.Path("dangling");
  ASSERT_EQ(::symlink(dir.Path("nothing").c_str(), dangling.c_str()), 0);
  EXPECT_EQ(OpenNetns(dangling).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OpenNetns(dir.Path("nothing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OpenNetns(dir.Path("nothing/ns")).status().code(), absl::StatusCode::kNotFound);
}

// Out of descriptors is the agent's trouble, not a wrong path.
TEST(OpenNetnsTest, NoFreeDescriptorIsResourceExhausted) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int lowest_free = ::dup(0);
    ::close(lowest_free);
    struct rlimit limit {};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = static_cast<rlim_t>(lowest_free);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    absl::StatusCode code = OpenNetns("/proc/self/ns/net").status().code();
    ::_exit(code == absl::StatusCode::kResourceExhausted ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

// A process under uid 65534, as a pod's: opening its /proc/<pid>/ns/net passes the kernel's ptrace
// read check only with CAP_SYS_PTRACE. Without it the agent lacks a privilege: FAILED_PRECONDITION
// naming the capability, never INVALID_ARGUMENT (which would tell the caller never to retry).
TEST(OpenNetnsTest, AnotherUidsProcPathWithoutSysPtraceIsFailedPreconditionNamingIt) {
  REQUIRE_ROOT();
  pid_t pod = ::fork();
  ASSERT_GE(pod, 0);
  if (pod == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(1);
    }
    ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const testing::ScopedChild reaper(pod);
  const std::string path = absl::StrCat("/proc/", pod, "/ns/net");
  // Until the child runs as 65534 and has exec'd (exec makes it dumpable again), root may open it
  // anyway; wait for the exec.
  for (int i = 0; i < 200; ++i) {
    char exe[64] = {};
    std::string link = absl::StrCat("/proc/", pod, "/exe");
    ssize_t n = ::readlink(link.c_str(), exe, sizeof(exe) - 1);
    if (n > 0 && absl::StrContains(exe, "sleep")) break;
    ::usleep(10000);
  }
  EXPECT_TRUE(OpenNetns(path).ok()) << "with CAP_SYS_PTRACE (root)";
  std::string without = StatusInChild([&] {
    if (!DropEffectiveCapability(CAP_SYS_PTRACE)) {
      return absl::InternalError("capset failed");
    }
    return OpenNetns(path).status();
  });
  EXPECT_TRUE(absl::StartsWith(without, "FAILED_PRECONDITION ")) << without;
  EXPECT_TRUE(absl::StrContains(without, "CAP_SYS_PTRACE")) << without;
  EXPECT_TRUE(absl::StrContains(without, path)) << without;
}

// setns without CAP_SYS_ADMIN: the agent lacks a privilege, FAILED_PRECONDITION naming it.
TEST(OpenNetnsTest, EnteringWithoutSysAdminIsFailedPreconditionNamingIt) {
  REQUIRE_ROOT();
  absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create("nosysadmin");
  ASSERT_TRUE(ns.ok()) << ns.status();
  absl::StatusOr<UniqueFd> fd = OpenNetns(ns->path());
  ASSERT_TRUE(fd.ok()) << fd.status();
  std::string without = StatusInChild([&] {
    if (!DropEffectiveCapability(CAP_SYS_ADMIN)) {
      return absl::InternalError("capset failed");
    }
    return RunInNetns(fd->get(), [] { return absl::OkStatus(); });
  });
  EXPECT_TRUE(absl::StartsWith(without, "FAILED_PRECONDITION ")) << without;
  EXPECT_TRUE(absl::StrContains(without, "CAP_SYS_ADMIN")) << without;
  std::string socket_without = StatusInChild([&] {
    if (!DropEffectiveCapability(CAP_SYS_ADMIN)) {
      return absl::InternalError("capset failed");
    }
    return SocketInNetnsOnCallingThread(fd->get(), AF_NETLINK, SOCK_RAW, 0).status();
  });
  EXPECT_TRUE(absl::StartsWith(socket_without, "FAILED_PRECONDITION ")) << socket_without;
}

// Symlinks (and /proc magic links) are followed: two paths, one namespace, one identity.
TEST(OpenNetnsTest, ASymlinkNamesTheSameNamespace) {
  REQUIRE_ROOT();
  absl::StatusOr<ScopedNetns> ns = ScopedNetns::Create("open");
  ASSERT_TRUE(ns.ok()) << ns.status();
  ScratchDir dir;
  const std::string link = dir.Path("alias");
  ASSERT_EQ(::symlink(ns->path().c_str(), link.c_str()), 0);
  absl::StatusOr<NetnsHandle> direct = OpenNetnsHandle(ns->path());
  absl::StatusOr<NetnsHandle> aliased = OpenNetnsHandle(link);
  ASSERT_TRUE(direct.ok()) << direct.status();
  ASSERT_TRUE(aliased.ok()) << aliased.status();
  EXPECT_EQ(direct->id, aliased->id);
  EXPECT_EQ(aliased->path, link);

  absl::StatusOr<NetnsHandle> own = OpenNetnsHandle("/proc/self/ns/net");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_FALSE(own->id == direct->id);
}

// The root is a scratch directory; the namespace files in it are bind mounts of the test's own
// namespace (root) or, without root, only the refusals that need no namespace file are checked.
TEST(OpenNetnsBeneathTest, NothingBelowTheRootIsFollowedOutOfIt) {
  ScratchDir dir;
  const std::string root = dir.Path("root");
  ASSERT_EQ(::mkdir(root.c_str(), 0700), 0);
  const std::string own = "/proc/self/ns/net";

  const std::string link = root + "/link";
  ASSERT_EQ(::symlink(own.c_str(), link.c_str()), 0);
  EXPECT_TRUE(OpenNetns(link).ok()) << "the plain opener follows symlinks";
  absl::StatusOr<UniqueFd> fd = OpenNetnsBeneath(root, link);
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "symlink")) << fd.status();

  // A symlinked directory on the way, relative or absolute.
  const std::string outside = dir.Path("outside");
  ASSERT_EQ(::mkdir(outside.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(own.c_str(), (outside + "/net").c_str()), 0);
  ASSERT_EQ(::symlink("../outside", (root + "/up").c_str()), 0);
  fd = OpenNetnsBeneath(root, root + "/up/net");
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "symlink")) << fd.status();

  fd = OpenNetnsBeneath(root, root + "/../outside/net");
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "leads out")) << fd.status();

  fd = OpenNetnsBeneath(root, outside + "/net");
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "not beneath")) << fd.status();

  fd = OpenNetnsBeneath(root, root + "/missing");
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound) << fd.status();

  const std::string fifo = root + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto pending = std::async(std::launch::async, [&] { return OpenNetnsBeneath(root, fifo); });
  if (pending.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    ADD_FAILURE() << "OpenNetnsBeneath(" << fifo << ") blocked";
    UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
  }
  fd = pending.get();
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "not a network namespace")) << fd.status();

  if (::geteuid() == 0) {
    const std::string bound = root + "/bound";
    std::ofstream(bound) << "";
    ASSERT_EQ(::mount(own.c_str(), bound.c_str(), nullptr, MS_BIND, nullptr), 0)
        << std::strerror(errno);
    fd = OpenNetnsBeneath(root, bound);
    EXPECT_TRUE(fd.ok()) << fd.status();
    ::umount2(bound.c_str(), MNT_DETACH);
  }
}

TEST(OpenNetnsBeneathTest, UnderProcOnlyAProcessesOwnNetLinkIsFollowed) {
  const std::string pid = absl::StrCat(::getpid());
  absl::StatusOr<UniqueFd> fd = OpenNetnsBeneath("/proc", "/proc/" + pid + "/ns/net");
  ASSERT_TRUE(fd.ok()) << fd.status();
  fd = OpenNetnsBeneath("/proc", "/proc/" + pid + "/task/" + pid + "/ns/net");
  EXPECT_TRUE(fd.ok()) << fd.status();
  for (const std::string& path : {std::string("/proc/self/ns/net"), "/proc/" + pid + "/ns/uts",
                                  "/proc/" + pid + "/root/proc/1/ns/net", "/proc/" + pid}) {
    fd = OpenNetnsBeneath("/proc", path);
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << path << ": " << fd.status();
  }
  // A process that has exited: its directory is gone, whatever reuses the pid later.
  pid_t child = ::fork();
  if (child == 0) {
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  fd = OpenNetnsBeneath("/proc", absl::StrCat("/proc/", child, "/ns/net"));
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound) << fd.status();
}

class NetnsHandleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root: creates network namespaces and nftables tables in them";
    }
    absl::StatusOr<ScopedNetns> host = ScopedNetns::Create("hhost");
    ASSERT_TRUE(host.ok()) << host.status();
    host_.emplace(*std::move(host));
    absl::StatusOr<ScopedNetns> pod = ScopedNetns::Create("hpod");
    ASSERT_TRUE(pod.ok()) << pod.status();
    pod_.emplace(*std::move(pod));
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeNftablesBackend(host_->path());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }

  std::optional<ScopedNetns> host_;
  std::optional<ScopedNetns> pod_;
  std::unique_ptr<Backend> backend_;
};

// The path goes (the pod's process exits, its bind mount is removed) while the namespace lives
// on: the handle still reaches it, so the table can be observed and removed.
TEST_F(NetnsHandleTest, AHandleReachesItsNamespaceAfterThePathIsGone) {
  absl::StatusOr<NetnsHandle> netns = backend_->OpenPodNetns(pod_->path());
  ASSERT_TRUE(netns.ok()) << netns.status();
  ASSERT_TRUE(backend_->ApplyPod(*netns, PodRules{}, TableOwner{"pod-uid", 1}).ok());
  const std::string path = pod_->path();
  pod_.reset();  // ip netns delete: the path is gone, our handle keeps the namespace
  struct stat st {};
  ASSERT_NE(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(backend_->OpenPodNetns(path).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<PodObservation> obs = backend_->ObservePod(*netns, PodRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_TRUE(obs->table_present);
  EXPECT_TRUE(obs->rules_match);
  ASSERT_TRUE(backend_->RemovePod(*netns).ok());
  obs = backend_->ObservePod(*netns, PodRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_FALSE(obs->table_present);
}

TEST_F(NetnsHandleTest, TheHostNamespaceIsRefusedByPathAndByHandle) {
  absl::StatusOr<NetnsHandle> by_path = backend_->OpenPodNetns(host_->path());
  EXPECT_EQ(by_path.status().code(), absl::StatusCode::kInvalidArgument) << by_path.status();
  absl::StatusOr<NetnsHandle> handle = OpenNetnsHandle(host_->path());
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(backend_->ApplyPod(*handle, PodRules{}, TableOwner{"pod-uid", 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend_->RemovePod(*handle).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> tables =
      RunAndCapture(absl::StrCat("ip netns exec ", host_->name(), " nft list tables"));
  ASSERT_TRUE(tables.ok()) << tables.status();
  EXPECT_EQ(*tables, "");
}

}  // namespace
}  // namespace probesnat::netfilter
