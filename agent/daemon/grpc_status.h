#pragma once

#include <string>

#include "absl/status/status.h"
#include "agent/domain/error_reason.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace probesnat::daemon {

// absl and gRPC share the canonical status codes; only the types differ.
inline grpc::Status ToGrpcStatus(const absl::Status& st) {
  if (st.ok()) {
    return grpc::Status::OK;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

// The same, and the status's agent::ErrorReason (if any) into the call's trailing metadata
// (probesnat.v1.ErrorReason).
inline grpc::Status ToGrpcStatus(const absl::Status& st, grpc::ServerContext* ctx) {
  if (std::optional<agent::ErrorReason> reason = agent::ErrorReasonOf(st);
      reason.has_value() && ctx != nullptr) {
    ctx->AddTrailingMetadata(agent::kErrorReasonMetadataKey,
                             std::string(agent::ErrorReasonName(*reason)));
  }
  return ToGrpcStatus(st);
}

}  // namespace probesnat::daemon
