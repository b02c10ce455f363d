#include "agent/daemon/unix_socket_listener.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/run_directory.h"
#include "base/errno_text.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

constexpr int kBacklog = 128;
constexpr int kRefusalsLoggedPerSecond = 10;

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

// True when a server accepts connections on the unix socket at `path`.
bool SomeoneListens(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return false;
  }
  sockaddr_un addr = UnixAddress(path);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

// Logs refused peers, at most kRefusalsLoggedPerSecond lines a second (a local flood must not fill
// the log); the next line after a quiet spell says how many were not logged.
class RefusalLog {
 public:
  void Refused(const PeerCredentials& peer, const AllowedPeers& allowed) {
    absl::Time now = absl::Now();
    if (now - window_start_ >= absl::Seconds(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (++in_window_ > kRefusalsLoggedPerSecond) {
      ++suppressed_;
      return;
    }
    spdlog::warn(
        "refused a connection on the unix socket from pid {} uid {} gid {}: not an allowed peer "
        "({}; see --allowed-uids/--allowed-gids){}",
        peer.pid, peer.uid, peer.gid, allowed.Describe(),
        suppressed_ > 0 ? absl::StrCat(" (", suppressed_, " more refusals not logged)") : "");
    suppressed_ = 0;
  }

 private:
  absl::Time window_start_ = absl::InfinitePast();
  int in_window_ = 0;
  long suppressed_ = 0;
};

}  // namespace

absl::Status PrepareSocketPath(const std::string& socket_path) {
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stat ", socket_path, ": ", base::ErrnoText()));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(socket_path, " exists and is not a socket; refusing to replace it"));
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat(socket_path, " is a socket owned by uid ", st.st_uid,
                     ", not by this agent's user; refusing to replace it (remove it by hand)"));
  }
  if (SomeoneListens(socket_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("another server is listening on ", socket_path));
  }
  if (::unlink(socket_path.c_str()) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot remove stale socket ", socket_path, ": ", base::ErrnoText()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<UnixSocketListener>> UnixSocketListener::Bind(
    const std::string& path) {
  if (absl::Status st = MakeDirectories(ParentDirectory(path)); !st.ok()) {
    return st;
  }
  if (absl::Status st = PrepareSocketPath(path); !st.ok()) {
    return st;
  }
  std::unique_ptr<UnixSocketListener> l(new UnixSocketListener());
  l->path_ = path;
  l->listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  l->wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!l->listen_fd_.valid() || !l->wake_fd_.valid()) {
    return absl::InternalError(absl::StrCat("cannot create a unix socket: ", base::ErrnoText()));
  }
  sockaddr_un addr = UnixAddress(path);
  // Created with mode 0600 (umask), so no one else can connect before the chmod below.
  mode_t old_umask = ::umask(0077);
  int bound = ::bind(l->listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind unix:", path, ": ", base::ErrnoText(bind_errno)));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot stat ", path, " after bind: ", base::ErrnoText()));
  }
  l->bound_ = true;
  l->dev_ = st.st_dev;
  l->ino_ = st.st_ino;
  if (::chmod(path.c_str(), 0600) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot chmod 0600 ", path, ": ", base::ErrnoText()));
  }
  if (::listen(l->listen_fd_.get(), kBacklog) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on unix:", path, ": ", base::ErrnoText()));
  }
  return l;
}

UnixSocketListener::~UnixSocketListener() { Close(); }

void UnixSocketListener::Start(AllowedPeers allowed, std::function<void(int fd)> on_accept) {
  if (thread_.joinable() || !listen_fd_.valid()) {
    return;
  }
  thread_ = std::thread([this, allowed = std::move(allowed), on_accept = std::move(on_accept)] {
    AcceptLoop(allowed, on_accept);
  });
}

void UnixSocketListener::AcceptLoop(const AllowedPeers& allowed,
                                    const std::function<void(int fd)>& on_accept) {
  RefusalLog refusals;
  while (true) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      spdlog::error("unix socket {}: poll failed: {}; no longer accepting", path_,
                    base::ErrnoText());
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        spdlog::warn("unix socket {}: accept: {}; retrying in 100ms", path_, base::ErrnoText());
        ::usleep(100 * 1000);
      }
      continue;  // EAGAIN, ECONNABORTED, EINTR: the next poll decides
    }
    absl::StatusOr<PeerCredentials> peer = ReadPeerCredentials(conn.get());
    if (!peer.ok()) {
      spdlog::warn("unix socket {}: refused a connection: {}", path_, peer.status().message());
      continue;
    }
    if (!allowed.Allows(*peer)) {
      refusals.Refused(*peer, allowed);
      continue;
    }
    on_accept(conn.release());
  }
}

void UnixSocketListener::Stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof(one));
    thread_.join();
  }
}

void UnixSocketListener::Close() {
  Stop();
  if (!listen_fd_.valid()) {
    return;
  }
  listen_fd_.reset();
  if (!bound_) {
    return;
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  } else {
    spdlog::warn("{} is no longer the socket this agent bound; leaving it in place", path_);
  }
}

}  // namespace probesnat::daemon
