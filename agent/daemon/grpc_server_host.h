#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "grpcpp/server.h"

namespace probesnat::daemon {

struct ServerEndpoints {
  std::string socket_path;  // unix socket; parent directories are created with mode 0700
  std::string listen_tcp;   // optional loopback host:port ("127.0.0.1:0" picks a port)
  // Service names grpc.health.v1 reports besides "" (the server as a whole).
  std::vector<std::string> health_services;
};

// The gRPC server: the given services plus grpc.health.v1 (NOT_SERVING until SetServing(true)) and
// server reflection, on a unix socket (mode 0600; a stale socket file is replaced, a live one is an
// error) and optionally on loopback TCP.
class GrpcServerHost {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcServerHost>> Start(
      const ServerEndpoints& endpoints, const std::vector<grpc::Service*>& services);
  ~GrpcServerHost();

  void SetServing(bool serving);
  // Stops accepting calls, cancels what is still running after `grace`, removes the socket file.
  void Shutdown(absl::Duration grace);
  int tcp_port() const { return tcp_port_; }
  const std::string& socket_path() const { return socket_path_; }

 private:
  GrpcServerHost() = default;

  std::unique_ptr<grpc::Server> server_;
  std::string socket_path_;
  std::vector<std::string> health_services_;
  int tcp_port_ = 0;
  bool stopped_ = false;
};

// Makes `socket_path` usable for a new listener: creates missing parent directories (mode 0700),
// removes a stale socket file; refuses when a server answers on it or the path is not a socket.
absl::Status PrepareSocketPath(const std::string& socket_path);

}  // namespace probesnat::daemon
