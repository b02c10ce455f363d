#include "agent/client/agent_connection.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/client/health_check.h"
#include "agent/domain/error_reason.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "probesnat/v1/probesnat.grpc.pb.h"

namespace probesnat::client {
namespace {

absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) {
    return absl::OkStatus();
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// The same, with the agent's probesnat.v1.ErrorReason from the trailing metadata as an
// agent::ErrorReason payload (an unknown name is left out: the code and message still stand).
absl::Status ToAbsl(const grpc::Status& status, const grpc::ClientContext& ctx) {
  absl::Status st = ToAbsl(status);
  const auto& trailers = ctx.GetServerTrailingMetadata();
  if (auto it = trailers.find(agent::kErrorReasonMetadataKey); !st.ok() && it != trailers.end()) {
    if (std::optional<agent::ErrorReason> reason =
            agent::ErrorReasonFromName(absl::string_view(it->second.data(), it->second.size()));
        reason.has_value()) {
      return agent::WithErrorReason(std::move(st), *reason);
    }
  }
  return st;
}

}  // namespace

AgentConnection::AgentConnection(const std::string& socket_path, absl::Time deadline)
    : deadline_(deadline) {
  grpc::ChannelArguments args;
  // Short-lived processes: no retries behind our back, no keepalive pings.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  channel_ = grpc::CreateCustomChannel("unix:" + socket_path, grpc::InsecureChannelCredentials(),
                                       args);
}

absl::StatusOr<v1::PodStatus> AgentConnection::Enroll(const v1::Pod& pod, v1::PolicyMode mode) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline_));
  v1::EnrollRequest request;
  *request.mutable_pod() = pod;
  request.set_policy_mode(mode);
  v1::EnrollResponse response;
  if (absl::Status st =
          ToAbsl(v1::Enrollment::NewStub(channel_)->Enroll(&ctx, request, &response), ctx);
      !st.ok()) {
    return st;
  }
  return response.status();
}

absl::StatusOr<bool> AgentConnection::Unenroll(const std::string& uid) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline_));
  v1::UnenrollRequest request;
  request.set_uid(uid);
  v1::UnenrollResponse response;
  if (absl::Status st =
          ToAbsl(v1::Enrollment::NewStub(channel_)->Unenroll(&ctx, request, &response));
      !st.ok()) {
    return st;
  }
  return response.was_enrolled();
}

absl::StatusOr<v1::PodStatus> AgentConnection::Get(const std::string& uid) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline_));
  v1::GetRequest request;
  request.set_uid(uid);
  v1::PodStatus response;
  if (absl::Status st = ToAbsl(v1::Enrollment::NewStub(channel_)->Get(&ctx, request, &response));
      !st.ok()) {
    return st;
  }
  return response;
}

absl::StatusOr<std::vector<v1::PodStatus>> AgentConnection::List() {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline_));
  v1::ListRequest request;
  v1::ListResponse response;
  if (absl::Status st = ToAbsl(v1::Enrollment::NewStub(channel_)->List(&ctx, request, &response));
      !st.ok()) {
    return st;
  }
  return std::vector<v1::PodStatus>(response.pods().begin(), response.pods().end());
}

absl::StatusOr<v1::SyncResponse> AgentConnection::Sync(const std::vector<v1::Pod>& pods,
                                                       v1::PolicyMode mode) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline_));
  v1::SyncRequest request;
  for (const v1::Pod& pod : pods) {
    *request.add_pods() = pod;
  }
  request.set_policy_mode(mode);
  v1::SyncResponse response;
  if (absl::Status st = ToAbsl(v1::Enrollment::NewStub(channel_)->Sync(&ctx, request, &response));
      !st.ok()) {
    return st;
  }
  return response;
}

absl::Status AgentConnection::Watch(
    bool initial_state, const std::function<void(const v1::PodStatus&)>& on_event,
    const std::function<void(std::function<void()> cancel)>& on_cancel_ready) {
  grpc::ClientContext ctx;
  v1::WatchRequest request;
  request.set_initial_state(initial_state);
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader =
      v1::Enrollment::NewStub(channel_)->Watch(&ctx, request);
  on_cancel_ready([&ctx] { ctx.TryCancel(); });
  v1::Event event;
  while (reader->Read(&event)) {
    on_event(event.status());
  }
  return ToAbsl(reader->Finish());
}

absl::StatusOr<v1::PolicySnapshotStatus> AgentConnection::PolicySnapshot() {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline_));
  v1::GetPolicySnapshotStatusRequest request;
  v1::PolicySnapshotStatus response;
  if (absl::Status st =
          ToAbsl(v1::Policy::NewStub(channel_)->GetSnapshotStatus(&ctx, request, &response));
      !st.ok()) {
    return st;
  }
  return response;
}

absl::StatusOr<v1::CheckResponse> AgentConnection::Check(const v1::Pod& pod,
                                                         const std::vector<uint32_t>& probe_ports) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline_));
  v1::CheckRequest request;
  *request.mutable_pod() = pod;
  for (uint32_t port : probe_ports) {
    request.add_probe_ports(port);
  }
  v1::CheckResponse response;
  if (absl::Status st = ToAbsl(v1::Policy::NewStub(channel_)->Check(&ctx, request, &response));
      !st.ok()) {
    return st;
  }
  return response;
}

absl::Status AgentConnection::Health() {
  absl::StatusOr<int> serving = QueryHealth(channel_, deadline_);
  if (!serving.ok()) {
    return serving.status();
  }
  if (*serving != 1) {
    return absl::UnavailableError(
        absl::StrCat("probesnatd health is not SERVING (status ", *serving, ")"));
  }
  return absl::OkStatus();
}

}  // namespace probesnat::client
