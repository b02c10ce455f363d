#include "agent/daemon/grpc_server_host.h"

#include <condition_variable>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/tcp_token_auth.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_posix.h"
#include "grpcpp/support/server_interceptor.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

constexpr int kMaxMessageBytes = 16 * 1024 * 1024;  // a Sync of every pod on a large node
// Server threads, so calls in flight at once (Watch streams included, at most 32 of them); a call
// beyond is answered RESOURCE_EXHAUSTED by gRPC instead of costing a thread and its stack.
constexpr int kMaxServerThreads = 128;

// Counts the calls that end when the server answers (unary and client-streaming); streams that
// stay open while idle (Watch, health Watch, reflection) are not counted, shutdown cancels them.
class InflightCalls {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
  }
  void Remove() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--count_ == 0) {
      cv_.notify_all();
    }
  }
  // Waits until no counted call is running or `deadline` passes; returns the count left.
  int WaitIdle(absl::Time deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return count_ == 0; });
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

namespace {

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(std::shared_ptr<InflightCalls> calls) : calls_(std::move(calls)) {
    calls_->Add();
  }
  ~CountingInterceptor() override { calls_->Remove(); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  std::shared_ptr<InflightCalls> calls_;
};

class CountingInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingInterceptorFactory(std::shared_ptr<InflightCalls> calls)
      : calls_(std::move(calls)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    using Type = grpc::experimental::ServerRpcInfo::Type;
    if (info->type() == Type::SERVER_STREAMING || info->type() == Type::BIDI_STREAMING) {
      return nullptr;
    }
    return new CountingInterceptor(calls_);
  }

 private:
  std::shared_ptr<InflightCalls> calls_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServerHost>> GrpcServerHost::Start(
    const ServerEndpoints& endpoints, const std::vector<grpc::Service*>& services) {
  if (!endpoints.listen_tcp.empty() && endpoints.tcp_bearer_token.empty()) {
    return absl::InvalidArgumentError(
        "listen-tcp requires listen-tcp-token-file: TCP callers must authenticate");
  }
  std::unique_ptr<GrpcServerHost> host(new GrpcServerHost());
  absl::StatusOr<std::unique_ptr<UnixSocketListener>> unix =
      UnixSocketListener::Bind(endpoints.socket_path);
  if (!unix.ok()) {
    return unix.status();
  }
  host->unix_ = *std::move(unix);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  host->socket_path_ = endpoints.socket_path;
  host->health_services_ = endpoints.health_services;
  host->inflight_ = std::make_shared<InflightCalls>();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  grpc::ResourceQuota quota("probesnatd");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  if (!endpoints.listen_tcp.empty()) {
    // Local credentials: no bytes of their own on the wire (plaintext clients work), only
    // loopback peers, and an auth context the bearer-token processor can run in.
    std::shared_ptr<grpc::ServerCredentials> tcp =
        grpc::experimental::LocalServerCredentials(LOCAL_TCP);
    tcp->SetAuthMetadataProcessor(MakeBearerTokenProcessor(endpoints.tcp_bearer_token));
    builder.AddListeningPort(endpoints.listen_tcp, tcp, &host->tcp_port_);
  }
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
  }
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<CountingInterceptorFactory>(host->inflight_));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  host->server_ = builder.BuildAndStart();
  if (host->server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve",
                     endpoints.listen_tcp.empty() ? "" : absl::StrCat(" on ", endpoints.listen_tcp),
                     " (see the gRPC error above)"));
  }
  if (!endpoints.listen_tcp.empty() && host->tcp_port_ == 0) {
    host->server_->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", endpoints.listen_tcp));
  }
  host->SetServing(false);
  grpc::Server* server = host->server_.get();
  host->unix_->Start(endpoints.allowed_peers,
                     [server](int fd) { grpc::AddInsecureChannelFromFd(server, fd); });
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
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (unix_ != nullptr) {
    unix_->Stop();  // no new connections on the unix socket
  }
  if (server_ != nullptr) {
    SetServing(false);
    // Core shutdown first: no new calls or TCP connections, GOAWAY to every client. Unlike
    // grpc::Server::Shutdown(deadline) it does not wait for idle connections to go away.
    grpc_completion_queue* cq = grpc_completion_queue_create_for_pluck(nullptr);
    int tag = 0;
    grpc_server_shutdown_and_notify(server_->c_server(), cq, &tag);
    int left = inflight_->WaitIdle(absl::Now() + grace);
    if (left > 0) {
      spdlog::warn("shutdown: cancelling {} call(s) still running after {}", left,
                   absl::FormatDuration(grace));
    }
    // Cancels the streams and what is left, and closes every connection, idle ones included.
    grpc_server_cancel_all_calls(server_->c_server());
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    grpc_event done = grpc_completion_queue_pluck(
        cq, &tag, gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(5, GPR_TIMESPAN)),
        nullptr);
    if (done.type == GRPC_OP_COMPLETE) {
      grpc_completion_queue_shutdown(cq);
      grpc_completion_queue_destroy(cq);
    } else {
      spdlog::warn("shutdown: the gRPC core did not confirm the shutdown; exiting anyway");
    }
  }
  if (unix_ != nullptr) {
    unix_->Close();
  }
}

}  // namespace probesnat::daemon
