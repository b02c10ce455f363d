#include "agent/daemon/grpc_server_host.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "netfilter/unique_fd.h"

namespace probesnat::daemon {
namespace {

constexpr int kMaxMessageBytes = 16 * 1024 * 1024;  // a Sync of every pod on a large node

std::string Errno() { return std::strerror(errno); }

absl::Status MakeParents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create directory ", dir, ": ", Errno()));
    }
  }
  return absl::OkStatus();
}

// True when a server accepts connections on the unix socket at `path`.
bool SomeoneListens(const std::string& path) {
  netfilter::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

}  // namespace

absl::Status PrepareSocketPath(const std::string& socket_path) {
  if (absl::Status st = MakeParents(socket_path); !st.ok()) {
    return st;
  }
  struct stat st {};
  if (::lstat(socket_path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(absl::StrCat("cannot stat ", socket_path, ": ", Errno()));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(socket_path, " exists and is not a socket; refusing to replace it"));
  }
  if (SomeoneListens(socket_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("another server is listening on ", socket_path));
  }
  if (::unlink(socket_path.c_str()) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot remove stale socket ", socket_path, ": ", Errno()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GrpcServerHost>> GrpcServerHost::Start(
    const ServerEndpoints& endpoints, const std::vector<grpc::Service*>& services) {
  if (absl::Status st = PrepareSocketPath(endpoints.socket_path); !st.ok()) {
    return st;
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServerHost> host(new GrpcServerHost());
  host->socket_path_ = endpoints.socket_path;
  host->health_services_ = endpoints.health_services;
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddListeningPort(absl::StrCat("unix:", endpoints.socket_path),
                           grpc::InsecureServerCredentials());
  if (!endpoints.listen_tcp.empty()) {
    builder.AddListeningPort(endpoints.listen_tcp, grpc::InsecureServerCredentials(),
                             &host->tcp_port_);
  }
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
  }

  // The socket is created with mode 0600 (umask), so no one else can connect in between.
  mode_t old_umask = ::umask(0077);
  host->server_ = builder.BuildAndStart();
  ::umask(old_umask);
  if (host->server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve on unix:", endpoints.socket_path,
        endpoints.listen_tcp.empty() ? "" : absl::StrCat(" and ", endpoints.listen_tcp),
        " (see the gRPC error above)"));
  }
  if (!endpoints.listen_tcp.empty() && host->tcp_port_ == 0) {
    host->server_->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", endpoints.listen_tcp));
  }
  if (::chmod(endpoints.socket_path.c_str(), 0600) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot chmod 0600 ", endpoints.socket_path, ": ", Errno()));
  }
  host->SetServing(false);
  return host;
}

GrpcServerHost::~GrpcServerHost() { Shutdown(absl::ZeroDuration()); }

void GrpcServerHost::SetServing(bool serving) {
  if (server_ != nullptr && server_->GetHealthCheckService() != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(serving);  // "" and the names set so far
    for (const std::string& name : health_services_) {
      server_->GetHealthCheckService()->SetServingStatus(name, serving);
    }
  }
}

void GrpcServerHost::Shutdown(absl::Duration grace) {
  if (stopped_ || server_ == nullptr) {
    return;
  }
  stopped_ = true;
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
  ::unlink(socket_path_.c_str());
}

}  // namespace probesnat::daemon
