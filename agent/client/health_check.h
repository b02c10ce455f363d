#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace probesnat::client {

// grpc.health.v1.Health/Check of the server's overall health ("" service) on `channel`: the
// serving status (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING), or the call's error (gRPC code as
// absl::StatusCode). `bearer_token`, when set, goes as "authorization: Bearer ..." (the agent's
// TCP listener wants it).
absl::StatusOr<int> QueryHealth(const std::shared_ptr<grpc::Channel>& channel, absl::Time deadline,
                                const std::string& bearer_token = "");

}  // namespace probesnat::client
