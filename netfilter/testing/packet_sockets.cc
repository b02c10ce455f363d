#include "netfilter/testing/packet_sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "netfilter/netns.h"

namespace probesnat::netfilter::testing {
namespace {

sockaddr_storage SockAddr(const IpAddress& ip, uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  if (ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, ip.data(), 4);
    *len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, ip.data(), 16);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

std::string AddressOf(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

}  // namespace

absl::StatusOr<UniqueFd> Listen(const ScopedNetns& ns, IpFamily family, uint16_t port) {
  absl::StatusOr<UniqueFd> nsfd = OpenNetns(ns.path());
  if (!nsfd.ok()) {
    return nsfd.status();
  }
  bool v4 = family == IpFamily::kV4;
  absl::StatusOr<UniqueFd> fd = SocketInNetns(nsfd->get(), v4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
  if (!fd.ok()) {
    return fd.status();
  }
  int one = 1;
  ::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (!v4) {
    ::setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  socklen_t len;
  sockaddr_storage any = SockAddr(v4 ? IpAddress::V4({0, 0, 0, 0}) : IpAddress::V6({}), port, &len);
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&any), len) != 0 ||
      ::listen(fd->get(), 16) != 0) {
    return absl::InternalError(absl::StrCat("listen on port ", port, ": ", std::strerror(errno)));
  }
  return fd;
}

absl::StatusOr<UniqueFd> Connect(const ScopedNetns& from, const IpAddress& to, uint16_t port,
                                 uint32_t mark) {
  absl::StatusOr<UniqueFd> nsfd = OpenNetns(from.path());
  if (!nsfd.ok()) {
    return nsfd.status();
  }
  absl::StatusOr<UniqueFd> fd =
      SocketInNetns(nsfd->get(), to.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (!fd.ok()) {
    return fd.status();
  }
  if (mark != 0 && ::setsockopt(fd->get(), SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
    return absl::InternalError(absl::StrCat("SO_MARK: ", std::strerror(errno)));
  }
  socklen_t len;
  sockaddr_storage dst = SockAddr(to, port, &len);
  if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&dst), len) != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  pollfd p{fd->get(), POLLOUT, 0};
  if (::poll(&p, 1, kPacketTimeoutMs) != 1) {
    return absl::DeadlineExceededError(absl::StrCat("connect to ", to.ToString(), " timed out"));
  }
  int err = 0;
  socklen_t errlen = sizeof(err);
  ::getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &err, &errlen);
  if (err != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect to ", to.ToString(), ":", port, ": ", std::strerror(err)));
  }
  return fd;
}

absl::StatusOr<UniqueFd> SocketFrom(const ScopedNetns& from, IpFamily family, int type,
                                    const IpAddress* src) {
  absl::StatusOr<UniqueFd> nsfd = OpenNetns(from.path());
  if (!nsfd.ok()) {
    return nsfd.status();
  }
  absl::StatusOr<UniqueFd> fd = SocketInNetns(
      nsfd->get(), family == IpFamily::kV4 ? AF_INET : AF_INET6, type | SOCK_NONBLOCK, 0);
  if (!fd.ok()) {
    return fd.status();
  }
  if (src != nullptr) {
    socklen_t len;
    sockaddr_storage ss = SockAddr(*src, 0, &len);
    if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      return absl::InternalError(
          absl::StrCat("bind to ", src->ToString(), ": ", std::strerror(errno)));
    }
  }
  return fd;
}

absl::StatusOr<UniqueFd> StartConnect(const ScopedNetns& from, const IpAddress* src,
                                      const IpAddress& to, uint16_t port) {
  absl::StatusOr<UniqueFd> fd = SocketFrom(from, to.family(), SOCK_STREAM, src);
  if (!fd.ok()) {
    return fd.status();
  }
  socklen_t len;
  sockaddr_storage dst = SockAddr(to, port, &len);
  if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&dst), len) != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
  }
  return fd;
}

absl::Status SendUdp(const ScopedNetns& from, const IpAddress* src, const IpAddress& to,
                     uint16_t port) {
  absl::StatusOr<UniqueFd> fd = SocketFrom(from, to.family(), SOCK_DGRAM, src);
  if (!fd.ok()) {
    return fd.status();
  }
  socklen_t len;
  sockaddr_storage dst = SockAddr(to, port, &len);
  const char payload[] = "probe?";
  if (::sendto(fd->get(), payload, sizeof(payload), 0, reinterpret_cast<sockaddr*>(&dst), len) !=
      static_cast<ssize_t>(sizeof(payload))) {
    return absl::UnavailableError(absl::StrCat("sendto: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> BindUdp(const ScopedNetns& ns, IpFamily family, uint16_t port) {
  absl::StatusOr<UniqueFd> nsfd = OpenNetns(ns.path());
  if (!nsfd.ok()) {
    return nsfd.status();
  }
  bool v4 = family == IpFamily::kV4;
  absl::StatusOr<UniqueFd> fd =
      SocketInNetns(nsfd->get(), v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (!fd.ok()) {
    return fd.status();
  }
  int one = 1;
  if (!v4) {
    ::setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  socklen_t len;
  sockaddr_storage any = SockAddr(v4 ? IpAddress::V4({0, 0, 0, 0}) : IpAddress::V6({}), port, &len);
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&any), len) != 0) {
    return absl::InternalError(absl::StrCat("bind udp ", port, ": ", std::strerror(errno)));
  }
  return fd;
}

absl::StatusOr<std::string> ReceiveUdp(const UniqueFd& fd) {
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, kPacketTimeoutMs) != 1) {
    return absl::DeadlineExceededError("no datagram arrived");
  }
  char buf[64];
  sockaddr_storage peer{};
  socklen_t len = sizeof(peer);
  if (::recvfrom(fd.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&peer), &len) < 0) {
    return absl::InternalError(absl::StrCat("recvfrom: ", std::strerror(errno)));
  }
  return AddressOf(peer);
}

std::vector<size_t> Readable(const std::vector<const UniqueFd*>& fds, int timeout_ms) {
  std::vector<pollfd> p;
  for (const UniqueFd* fd : fds) {
    p.push_back(pollfd{fd->get(), POLLIN, 0});
  }
  std::vector<size_t> out;
  if (::poll(p.data(), p.size(), timeout_ms) > 0) {
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i].revents & POLLIN) {
        out.push_back(i);
      }
    }
  }
  return out;
}

absl::StatusOr<Accepted> AcceptOne(const std::vector<const UniqueFd*>& listeners) {
  std::vector<pollfd> fds;
  for (const UniqueFd* l : listeners) {
    fds.push_back(pollfd{l->get(), POLLIN, 0});
  }
  if (::poll(fds.data(), fds.size(), kPacketTimeoutMs) <= 0) {
    return absl::DeadlineExceededError("no listener accepted a connection");
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents & POLLIN) {
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      UniqueFd conn(::accept(fds[i].fd, reinterpret_cast<sockaddr*>(&peer), &len));
      if (!conn.valid()) {
        return absl::InternalError(absl::StrCat("accept: ", std::strerror(errno)));
      }
      return Accepted{i, AddressOf(peer)};
    }
  }
  return absl::InternalError("poll returned without a readable listener");
}

}  // namespace probesnat::netfilter::testing
