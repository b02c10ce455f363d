#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/ip_address.h"
#include "base/unique_fd.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter::testing {

// How long the helpers below wait for a connection or a datagram.
inline constexpr int kPacketTimeoutMs = 3000;

// A TCP listener on the wildcard address of `family` inside a namespace (v6-only for IPv6).
absl::StatusOr<UniqueFd> Listen(const ScopedNetns& ns, IpFamily family, uint16_t port);

// Connects from a socket created in `from` (with SO_MARK `mark` unless 0); returns the connected
// socket, or an error when it does not connect within kPacketTimeoutMs.
absl::StatusOr<UniqueFd> Connect(const ScopedNetns& from, const IpAddress& to, uint16_t port,
                                 uint32_t mark = 0);

// A non-blocking socket of `type` in `from`, bound to `src` (port 0) unless `src` is null.
absl::StatusOr<UniqueFd> SocketFrom(const ScopedNetns& from, IpFamily family, int type,
                                    const IpAddress* src);

// Starts a TCP connection from `from` (source `src` if given, e.g. a forged probe address that
// `from` holds) and returns without waiting for it.
absl::StatusOr<UniqueFd> StartConnect(const ScopedNetns& from, const IpAddress* src,
                                      const IpAddress& to, uint16_t port);

// Sends one UDP datagram from `from` (source `src` if given).
absl::Status SendUdp(const ScopedNetns& from, const IpAddress* src, const IpAddress& to,
                     uint16_t port);

// A UDP socket bound to the wildcard address of `family` on `port` inside a namespace.
absl::StatusOr<UniqueFd> BindUdp(const ScopedNetns& ns, IpFamily family, uint16_t port);

// The source address of the next datagram on `fd`, waiting at most kPacketTimeoutMs.
absl::StatusOr<std::string> ReceiveUdp(const UniqueFd& fd);

// Indices of the sockets that become readable within `timeout_ms` (empty if none does).
std::vector<size_t> Readable(const std::vector<const UniqueFd*>& fds, int timeout_ms);

struct Accepted {
  size_t listener;   // index into the listeners given to AcceptOne
  std::string peer;  // source address the receiving socket sees
};

// Accepts the first connection that arrives at any of `listeners` within kPacketTimeoutMs.
absl::StatusOr<Accepted> AcceptOne(const std::vector<const UniqueFd*>& listeners);

}  // namespace probesnat::netfilter::testing
