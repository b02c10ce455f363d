#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/daemon/peer_credentials.h"
#include "agent/daemon/unix_socket_listener.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "grpcpp/server.h"

namespace probesnat::daemon {

struct ServerEndpoints {
  std::string socket_path;  // unix socket; its directory must exist (RunDirectoryLock creates it)
  AllowedPeers allowed_peers;    // who may connect to the unix socket (SO_PEERCRED)
  std::string listen_tcp;        // optional loopback host:port ("127.0.0.1:0" picks a port)
  std::string tcp_bearer_token;  // required with listen_tcp: "authorization: Bearer <token>"
  // Service names grpc.health.v1 reports besides "" (the server as a whole).
  std::vector<std::string> health_services;
};

class InflightCalls;

// The gRPC server: the given services plus grpc.health.v1 (NOT_SERVING until SetServing(true)) and
// server reflection, on a unix socket (mode 0600; a stale socket file of ours is replaced, a live
// one is an error; connections of peers AllowedPeers refuses are closed) and optionally on
// loopback TCP, where every call needs the bearer token.
class GrpcServerHost {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcServerHost>> Start(
      const ServerEndpoints& endpoints, const std::vector<grpc::Service*>& services);
  ~GrpcServerHost();

  void SetServing(bool serving);
  // Stops accepting connections and calls; waits up to `grace` for unary calls in flight, then
  // cancels what is left (streams at once: Watch, health Watch, reflection) and closes every
  // connection, idle ones included; removes the socket file if it is still the one bound here.
  void Shutdown(absl::Duration grace);
  int tcp_port() const { return tcp_port_; }
  const std::string& socket_path() const { return socket_path_; }

 private:
  GrpcServerHost() = default;

  std::unique_ptr<UnixSocketListener> unix_;
  std::shared_ptr<InflightCalls> inflight_;
  std::unique_ptr<grpc::Server> server_;
  std::string socket_path_;
  std::vector<std::string> health_services_;
  int tcp_port_ = 0;
  bool stopped_ = false;
};

}  // namespace probesnat::daemon
