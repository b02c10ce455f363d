#include "netfilter/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string_view>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/errno_status.h"
#include "base/errno_text.h"

namespace probesnat::netfilter {

using base::ErrnoOrigin;
using base::ErrnoStatus;
using base::ErrnoText;

namespace {

constexpr absl::string_view kSetnsHint =
    "entering another network namespace needs CAP_SYS_ADMIN, which the agent lacks";

// What the agent lacks when it may not open `path`.
std::string OpenPermissionHint(const std::string& path) {
  if (path.rfind("/proc/", 0) == 0) {
    return "opening /proc/<pid>/ns/net of a process that runs under another uid (or is not "
           "dumpable) needs CAP_SYS_PTRACE, which the agent lacks (deploy/daemonset.yaml grants "
           "NET_ADMIN, SYS_ADMIN and SYS_PTRACE)";
  }
  return "the agent may not open this file (a directory on the way or the file itself denies it, "
         "or a security module does)";
}

}  // namespace

namespace {

absl::Status CheckPathText(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("network namespace path is empty");
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("network namespace path contains a NUL byte");
  }
  return absl::OkStatus();
}

absl::Status OpenError(int err, const std::string& path) {
  absl::Status st =
      ErrnoStatus(err, ErrnoOrigin::kCallerPath,
                  absl::StrCat("cannot open network namespace ", path), OpenPermissionHint(path));
  if (absl::IsNotFound(st)) {
    return absl::NotFoundError(absl::StrCat("network namespace ", path, " does not exist"));
  }
  return st;
}

// `located` is an O_PATH descriptor of the file `path` named: checks that it is a network
// namespace and opens that very file for use.
absl::StatusOr<UniqueFd> OpenLocatedNetns(const UniqueFd& located, const std::string& path) {
  struct statfs fs {};
  if (::fstatfs(located.get(), &fs) != 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                       absl::StrCat("cannot inspect network namespace ", path));
  }
  if (fs.f_type != NSFS_MAGIC) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a network namespace (not a namespace file)"));
  }
  // setns() and ioctl() need a descriptor opened for use. Re-open the file located above, not
  // the path, which may name something else by now. Opening an nsfs file never blocks.
  UniqueFd fd(::open(absl::StrCat("/proc/self/fd/", located.get()).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                       absl::StrCat("cannot open network namespace ", path),
                       OpenPermissionHint(path));
  }
  int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (type < 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                       absl::StrCat("cannot ask the type of namespace ", path));
  }
  if (type != CLONE_NEWNET) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a network namespace"));
  }
  return fd;
}

// Opens `relative` beneath the directory `dir_fd` with O_PATH (plus `extra_flags`), following no
// symlink and never leaving `dir_fd`: openat2 where the kernel has it (5.6+), else one O_NOFOLLOW
// component at a time. -1 with errno set on failure: ELOOP for a symlink, EXDEV for an escape.
int OpenBeneathWithoutSymlinks(int dir_fd, const std::string& relative, int extra_flags) {
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC | extra_flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dir_fd, relative.c_str(), &how, sizeof(how));
  if (fd >= 0 || errno != ENOSYS) {
    return static_cast<int>(fd);
  }
  std::vector<std::string> parts = absl::StrSplit(relative, '/', absl::SkipEmpty());
  if (parts.empty()) {
    errno = ENOENT;
    return -1;
  }
  UniqueFd current(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  for (size_t i = 0; i < parts.size() && current.valid(); ++i) {
    if (parts[i] == "..") {
      errno = EXDEV;
      return -1;
    }
    const bool last = i + 1 == parts.size();
    UniqueFd next(::openat(current.get(), parts[i].c_str(),
                           O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? extra_flags : O_DIRECTORY)));
    if (!next.valid()) {
      return -1;
    }
    struct stat st {};
    if (::fstat(next.get(), &st) != 0) {
      return -1;
    }
    if (S_ISLNK(st.st_mode)) {
      errno = ELOOP;
      return -1;
    }
    current = std::move(next);
  }
  return current.valid() ? current.release() : -1;
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
}

// <pid>/ns/net or <pid>/task/<tid>/ns/net: the directory part (<pid>/ns, <pid>/task/<tid>/ns).
std::optional<std::string> ProcNetnsDirectory(const std::string& relative) {
  std::vector<absl::string_view> parts = absl::StrSplit(relative, '/');
  bool ok = (parts.size() == 3 && AllDigits(parts[0]) && parts[1] == "ns" && parts[2] == "net") ||
            (parts.size() == 5 && AllDigits(parts[0]) && parts[1] == "task" &&
             AllDigits(parts[2]) && parts[3] == "ns" && parts[4] == "net");
  if (!ok) {
    return std::nullopt;
  }
  return relative.substr(0, relative.size() - std::string_view("/net").size());
}

}  // namespace

absl::StatusOr<UniqueFd> OpenNetns(const std::string& path) {
  if (absl::Status st = CheckPathText(path); !st.ok()) {
    return st;
  }
  // O_PATH resolves the path (symlinks and /proc magic links included) without opening the file
  // for I/O: open() of a FIFO would wait for a writer, for ever.
  UniqueFd located(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!located.valid()) {
    return OpenError(errno, path);
  }
  return OpenLocatedNetns(located, path);
}

absl::StatusOr<UniqueFd> OpenNetnsBeneath(const std::string& root, const std::string& path) {
  if (absl::Status st = CheckPathText(path); !st.ok()) {
    return st;
  }
  if (root.empty() || root.back() == '/' || path.size() <= root.size() + 1 ||
      !absl::StartsWith(path, root) || path[root.size()] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not beneath the network namespace root ", root));
  }
  const std::string relative = path.substr(root.size() + 1);
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) {
    return OpenError(errno, path);  // a missing root: nothing at the path
  }
  UniqueFd located;
  if (root == "/proc") {
    std::optional<std::string> ns_dir = ProcNetnsDirectory(relative);
    if (!ns_dir) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " is not /proc/<pid>/ns/net or /proc/<pid>/task/<tid>/ns/net"));
    }
    UniqueFd dir(OpenBeneathWithoutSymlinks(root_fd.get(), *ns_dir, O_DIRECTORY));
    if (dir.valid()) {
      // The process's own link to its namespace, from the directory of that very process: if it
      // has exited meanwhile this fails (ENOENT) even when its pid is reused.
      located.reset(::openat(dir.get(), "net", O_PATH | O_CLOEXEC));
    }
  } else {
    located.reset(OpenBeneathWithoutSymlinks(root_fd.get(), relative, 0));
  }
  if (!located.valid()) {
    int err = errno;
    if (err == ELOOP) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " has a symlink below the network namespace root ", root,
          "; symlinks are not followed there (name the namespace file itself)"));
    }
    if (err == EXDEV) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " leads out of the network namespace root ", root));
    }
    return OpenError(err, path);
  }
  return OpenLocatedNetns(located, path);
}

absl::StatusOr<NetnsId> IdentifyNetns(int netns_fd) {
  struct stat st {};
  if (::fstat(netns_fd, &st) != 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall, "cannot stat a network namespace handle");
  }
  return NetnsId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

namespace {

// The handle of a namespace descriptor just opened from `path`.
absl::StatusOr<NetnsHandle> HandleOf(absl::StatusOr<UniqueFd> fd, const std::string& path) {
  if (!fd.ok()) {
    return fd.status();
  }
  absl::StatusOr<NetnsId> id = IdentifyNetns(fd->get());
  if (!id.ok()) {
    return id.status();
  }
  return NetnsHandle{std::make_shared<const UniqueFd>(*std::move(fd)), *id, path};
}

}  // namespace

absl::StatusOr<NetnsHandle> OpenNetnsHandle(const std::string& path) {
  return HandleOf(OpenNetns(path), path);
}

absl::StatusOr<NetnsHandle> OpenNetnsHandleBeneath(const std::string& root,
                                                   const std::string& path) {
  return HandleOf(OpenNetnsBeneath(root, path), path);
}

absl::Status RunInNetns(int netns_fd, absl::FunctionRef<absl::Status()> fn) {
  absl::Status result;
  std::thread worker([&] {
    UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!home.valid()) {
      result = ErrnoStatus(errno, ErrnoOrigin::kAgentCall, "cannot open own network namespace");
      return;
    }
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      result =
          ErrnoStatus(errno, ErrnoOrigin::kAgentCall, "cannot enter network namespace", kSetnsHint);
      return;
    }
    result = fn();
    if (::setns(home.get(), CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "probesnat: cannot return to the host network namespace: %s\n",
                   ErrnoText(errno).c_str());
      std::abort();
    }
  });
  worker.join();
  return result;
}

absl::Status RunInNetns(const std::string& path, absl::FunctionRef<absl::Status()> fn) {
  absl::StatusOr<UniqueFd> fd = OpenNetns(path);
  if (!fd.ok()) {
    return fd.status();
  }
  absl::Status st = RunInNetns(fd->get(), fn);
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat(st.message(), " (namespace ", path, ")"));
  }
  return st;
}

absl::StatusOr<UniqueFd> SocketInNetns(int netns_fd, int domain, int type, int protocol) {
  UniqueFd sock;
  absl::Status st = RunInNetns(netns_fd, [&]() -> absl::Status {
    sock.reset(::socket(domain, type | SOCK_CLOEXEC, protocol));
    if (!sock.valid()) {
      return ErrnoStatus(errno, ErrnoOrigin::kAgentCall, "socket()");
    }
    return absl::OkStatus();
  });
  if (!st.ok()) {
    return st;
  }
  return sock;
}

absl::StatusOr<UniqueFd> SocketInNetnsOnCallingThread(int netns_fd, int domain, int type,
                                                      int protocol) {
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home.valid()) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall, "cannot open own network namespace");
  }
  if (::setns(netns_fd, CLONE_NEWNET) != 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall, "cannot enter network namespace",
                       kSetnsHint);
  }
  UniqueFd sock(::socket(domain, type | SOCK_CLOEXEC, protocol));
  int socket_errno = errno;
  if (::setns(home.get(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "probesnat: cannot return to the original network namespace: %s\n",
                 ErrnoText(errno).c_str());
    std::abort();
  }
  if (!sock.valid()) {
    return ErrnoStatus(socket_errno, ErrnoOrigin::kAgentCall, "socket()");
  }
  return sock;
}

}  // namespace probesnat::netfilter
