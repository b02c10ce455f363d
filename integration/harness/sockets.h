#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"

namespace probesnat::integration {

// An IP address (text, as inet_ntop prints it) and a TCP port.
struct Endpoint {
  std::string ip;
  uint16_t port = 0;

  std::string ToString() const;  // 10.0.0.1:80, [fd00::1]:80
  bool operator==(const Endpoint&) const = default;
};

// What a listener saw of one accepted connection.
struct Accepted {
  UniqueFd fd;
  Endpoint peer;   // getpeername
  Endpoint local;  // getsockname
  // SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST: where the peer sent the connection before NAT; empty
  // when conntrack knows nothing of it (no netfilter in the namespace).
  std::optional<Endpoint> original_dst;
  uint16_t listener_port = 0;
};

// A TCP listener on one port, IPv4 and IPv6 (two sockets, the IPv6 one v6-only), created inside a
// network namespace. By default it binds the wildcard addresses, so that connections REDIRECTed in
// PREROUTING (to the incoming interface's address) and in OUTPUT (to 127.0.0.1 / ::1) both reach
// it.
class Listener {
 public:
  static absl::StatusOr<Listener> Create(int netns_fd, uint16_t port,
                                         const std::string& bind_v4 = "0.0.0.0",
                                         const std::string& bind_v6 = "::");

  // Waits up to `timeout` for one connection. DEADLINE_EXCEEDED when none arrived.
  absl::StatusOr<Accepted> Accept(absl::Duration timeout);
  // True when a connection is waiting to be accepted (after `wait`).
  bool HasPending(absl::Duration wait = absl::ZeroDuration());
  uint16_t port() const { return port_; }

 private:
  Listener() = default;
  UniqueFd v4_;
  UniqueFd v6_;
  uint16_t port_ = 0;
};

struct ConnectOptions {
  std::optional<uint32_t> mark;  // SO_MARK on the connecting socket (e.g. the proxy mark 0x539)
  absl::Duration timeout = absl::Seconds(3);
  std::string bind_ip;  // optional source address
};

// An established client connection.
struct Connection {
  UniqueFd fd;
  Endpoint local;
  Endpoint peer;
};

// Connects from inside namespace `netns_fd` to `to`, bounded by options.timeout.
absl::StatusOr<Connection> Connect(int netns_fd, const Endpoint& to,
                                   const ConnectOptions& options = {});

// Whether `ip` is an IPv6 literal.
bool IsV6(const std::string& ip);

}  // namespace probesnat::integration
