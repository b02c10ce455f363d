#pragma once

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace probesnat::daemon {

// absl and gRPC share the canonical status codes; only the types differ.
inline grpc::Status ToGrpcStatus(const absl::Status& st) {
  if (st.ok()) {
    return grpc::Status::OK;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

}  // namespace probesnat::daemon
