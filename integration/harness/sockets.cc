#include "integration/harness/sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "netfilter/netns.h"

namespace probesnat::integration {
namespace {

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; both are 80. Spelled out
// here because those headers clash with the libc network headers in C++.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

std::string Errno(const char* what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

Endpoint FromSockaddr(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = {};
  Endpoint e;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    e.port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    e.port = ntohs(sin6->sin6_port);
  }
  e.ip = text;
  return e;
}

absl::StatusOr<sockaddr_storage> ToSockaddr(const std::string& ip, uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  if (IsV6(ip)) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (::inet_pton(AF_INET6, ip.c_str(), &sin6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("not an IPv6 address: ", ip));
    }
    *len = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (::inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", ip));
    }
    *len = sizeof(sockaddr_in);
  }
  return ss;
}

// A non-blocking TCP socket created inside the namespace, of the family of `ip`, with the socket
// address of ip:port ready for bind() or connect().
struct TcpSocket {
  UniqueFd fd;
  sockaddr_storage addr{};
  socklen_t len = 0;
};

absl::StatusOr<TcpSocket> TcpSocketFor(int netns_fd, const std::string& ip, uint16_t port) {
  TcpSocket sock;
  absl::StatusOr<sockaddr_storage> addr = ToSockaddr(ip, port, &sock.len);
  if (!addr.ok()) {
    return addr.status();
  }
  sock.addr = *addr;
  absl::StatusOr<UniqueFd> fd =
      netfilter::SocketInNetns(netns_fd, addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (!fd.ok()) {
    return fd.status();
  }
  sock.fd = std::move(*fd);
  return sock;
}

absl::StatusOr<UniqueFd> ListenOn(int netns_fd, const std::string& ip, uint16_t port) {
  absl::StatusOr<TcpSocket> sock = TcpSocketFor(netns_fd, ip, port);
  if (!sock.ok()) {
    return sock.status();
  }
  int one = 1;
  ::setsockopt(sock->fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (sock->addr.ss_family == AF_INET6) {
    ::setsockopt(sock->fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(sock->fd.get(), reinterpret_cast<sockaddr*>(&sock->addr), sock->len) != 0) {
    return absl::InternalError(Errno(absl::StrCat("bind ", Endpoint{ip, port}.ToString()).c_str()));
  }
  if (::listen(sock->fd.get(), 64) != 0) {
    return absl::InternalError(Errno("listen"));
  }
  return std::move(sock->fd);
}

int ToMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) {
    return 0;
  }
  return static_cast<int>(absl::ToInt64Milliseconds(d)) + 1;
}

}  // namespace

bool IsV6(const std::string& ip) { return ip.find(':') != std::string::npos; }

std::string Endpoint::ToString() const {
  return IsV6(ip) ? absl::StrCat("[", ip, "]:", port) : absl::StrCat(ip, ":", port);
}

absl::StatusOr<Listener> Listener::Create(int netns_fd, uint16_t port, const std::string& bind_v4,
                                          const std::string& bind_v6) {
  Listener l;
  l.port_ = port;
  if (!bind_v4.empty()) {
    absl::StatusOr<UniqueFd> fd = ListenOn(netns_fd, bind_v4, port);
    if (!fd.ok()) {
      return fd.status();
    }
    l.v4_ = std::move(*fd);
  }
  if (!bind_v6.empty()) {
    absl::StatusOr<UniqueFd> fd = ListenOn(netns_fd, bind_v6, port);
    if (!fd.ok()) {
      return fd.status();
    }
    l.v6_ = std::move(*fd);
  }
  return l;
}

bool Listener::HasPending(absl::Duration wait) {
  std::vector<pollfd> fds;
  for (const UniqueFd* fd : {&v4_, &v6_}) {
    if (fd->valid()) {
      fds.push_back({fd->get(), POLLIN, 0});
    }
  }
  return ::poll(fds.data(), fds.size(), ToMillis(wait)) > 0;
}

absl::StatusOr<Accepted> Listener::Accept(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    std::vector<pollfd> fds;
    for (const UniqueFd* fd : {&v4_, &v6_}) {
      if (fd->valid()) {
        fds.push_back({fd->get(), POLLIN, 0});
      }
    }
    int n = ::poll(fds.data(), fds.size(), ToMillis(deadline - absl::Now()));
    if (n < 0 && errno != EINTR) {
      return absl::InternalError(Errno("poll"));
    }
    for (const pollfd& p : fds) {
      if ((p.revents & POLLIN) == 0) {
        continue;
      }
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      int c = ::accept4(p.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (c < 0) {
        continue;  // e.g. the peer reset before we accepted
      }
      Accepted a;
      a.fd.reset(c);
      a.listener_port = port_;
      a.peer = FromSockaddr(peer);
      sockaddr_storage local{};
      len = sizeof(local);
      ::getsockname(c, reinterpret_cast<sockaddr*>(&local), &len);
      a.local = FromSockaddr(local);
      sockaddr_storage orig{};
      len = sizeof(orig);
      int rc = local.ss_family == AF_INET6
                   ? ::getsockopt(c, SOL_IPV6, kIp6tSoOriginalDst, &orig, &len)
                   : ::getsockopt(c, SOL_IP, kSoOriginalDst, &orig, &len);
      if (rc == 0) {
        a.original_dst = FromSockaddr(orig);
      }
      return a;
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("no connection on port ", port_, " within ", absl::FormatDuration(timeout)));
    }
  }
}

absl::StatusOr<Connection> Connect(int netns_fd, const Endpoint& to,
                                   const ConnectOptions& options) {
  absl::StatusOr<TcpSocket> sock = TcpSocketFor(netns_fd, to.ip, to.port);
  if (!sock.ok()) {
    return sock.status();
  }
  if (options.mark.has_value()) {
    uint32_t mark = *options.mark;
    if (::setsockopt(sock->fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
      return absl::InternalError(Errno("setsockopt SO_MARK"));
    }
  }
  if (!options.bind_ip.empty()) {
    socklen_t blen = 0;
    absl::StatusOr<sockaddr_storage> src = ToSockaddr(options.bind_ip, 0, &blen);
    if (!src.ok()) {
      return src.status();
    }
    if (::bind(sock->fd.get(), reinterpret_cast<sockaddr*>(&*src), blen) != 0) {
      return absl::InternalError(Errno(absl::StrCat("bind ", options.bind_ip).c_str()));
    }
  }
  const std::string what = absl::StrCat("connect to ", to.ToString());
  if (::connect(sock->fd.get(), reinterpret_cast<sockaddr*>(&sock->addr), sock->len) != 0 &&
      errno != EINPROGRESS) {
    return absl::UnavailableError(Errno(what.c_str()));
  }
  pollfd p{sock->fd.get(), POLLOUT, 0};
  int n = ::poll(&p, 1, ToMillis(options.timeout));
  if (n == 0) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no answer within ", absl::FormatDuration(options.timeout)));
  }
  int err = 0;
  socklen_t elen = sizeof(err);
  ::getsockopt(sock->fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  if (n < 0 || err != 0) {
    return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(n < 0 ? errno : err)));
  }
  Connection c;
  sockaddr_storage ss{};
  socklen_t slen = sizeof(ss);
  ::getsockname(sock->fd.get(), reinterpret_cast<sockaddr*>(&ss), &slen);
  c.local = FromSockaddr(ss);
  slen = sizeof(ss);
  ::getpeername(sock->fd.get(), reinterpret_cast<sockaddr*>(&ss), &slen);
  c.peer = FromSockaddr(ss);
  c.fd = std::move(sock->fd);
  return c;
}

}  // namespace probesnat::integration
