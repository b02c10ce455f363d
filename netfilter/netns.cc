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
#include "base/errno_text.h"

namespace probesnat::netfilter {

using base::ErrnoText;

namespace {}  // namespace

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
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("network namespace ", path, " does not exist"));
    }
    if (err == EMFILE || err == ENFILE || err == ENOMEM) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot open network namespace ", path, ": ", ErrnoText(err)));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open network namespace ", path, ": ", ErrnoText(err)));
  }
  struct statfs fs {};
  if (::fstatfs(located.get(), &fs) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot inspect network namespace ", path, ": ", ErrnoText(errno)));
  }
  if (fs.f_type != NSFS_MAGIC) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a network namespace (not a namespace file)"));
  }
  // setns() and ioctl() need a descriptor opened for use. Re-open the file located above, not
  // the path, which may name something else by now. Opening an nsfs file never blocks.
  UniqueFd fd(::open(absl::StrCat("/proc/self/fd/", located.get()).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open network namespace ", path, ": ", ErrnoText(errno)));
  }
  int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (type < 0 || type != CLONE_NEWNET) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a network namespace"));
  }
  return fd;
}

absl::StatusOr<NetnsId> IdentifyNetns(int netns_fd) {
  struct stat st {};
  if (::fstat(netns_fd, &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot stat a network namespace handle: ", ErrnoText(errno)));
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
      result = absl::InternalError(
          absl::StrCat("cannot open own network namespace: ", ErrnoText(errno)));
      return;
    }
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      result = absl::InvalidArgumentError(
          absl::StrCat("cannot enter network namespace: ", ErrnoText(errno)));
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
      return absl::InternalError(absl::StrCat("socket(): ", ErrnoText(errno)));
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
    return absl::InternalError(
        absl::StrCat("cannot open own network namespace: ", ErrnoText(errno)));
  }
  if (::setns(netns_fd, CLONE_NEWNET) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot enter network namespace: ", ErrnoText(errno)));
  }
  UniqueFd sock(::socket(domain, type | SOCK_CLOEXEC, protocol));
  int socket_errno = errno;
  if (::setns(home.get(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "probesnat: cannot return to the original network namespace: %s\n",
                 ErrnoText(errno).c_str());
    std::abort();
  }
  if (!sock.valid()) {
    return absl::InternalError(absl::StrCat("socket(): ", ErrnoText(socket_errno)));
  }
  return sock;
}

}  // namespace probesnat::netfilter
