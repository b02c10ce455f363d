#include "netfilter/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
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

absl::StatusOr<UniqueFd> OpenNetns(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("network namespace path is empty");
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("network namespace path contains a NUL byte");
  }
  // O_PATH resolves the path (symlinks and /proc magic links included) without opening the file
  // for I/O: open() of a FIFO would wait for a writer, for ever.
  UniqueFd located(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!located.valid()) {
    int err = errno;
    absl::Status st =
        ErrnoStatus(err, ErrnoOrigin::kCallerPath,
                    absl::StrCat("cannot open network namespace ", path), OpenPermissionHint(path));
    if (absl::IsNotFound(st)) {
      return absl::NotFoundError(absl::StrCat("network namespace ", path, " does not exist"));
    }
    return st;
  }
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

absl::StatusOr<NetnsId> IdentifyNetns(int netns_fd) {
  struct stat st {};
  if (::fstat(netns_fd, &st) != 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall, "cannot stat a network namespace handle");
  }
  return NetnsId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

absl::StatusOr<NetnsHandle> OpenNetnsHandle(const std::string& path) {
  absl::StatusOr<UniqueFd> fd = OpenNetns(path);
  if (!fd.ok()) {
    return fd.status();
  }
  absl::StatusOr<NetnsId> id = IdentifyNetns(fd->get());
  if (!id.ok()) {
    return id.status();
  }
  return NetnsHandle{std::make_shared<const UniqueFd>(*std::move(fd)), *id, path};
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
