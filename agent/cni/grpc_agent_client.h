#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "agent/cni/agent_client.h"
#include "grpcpp/channel.h"

namespace probesnat::cni {

// AgentClient over probesnatd's unix socket. Every call of one plugin run shares `deadline`, so
// the whole run (not each call) is bounded by the configured timeout. Calls do not wait for the
// socket to appear: an absent agent is UNAVAILABLE at once.
class GrpcAgentClient : public AgentClient {
 public:
  GrpcAgentClient(const std::string& socket_path, absl::Time deadline);

  absl::Status Enroll(const probesnat::v1::Pod& pod, probesnat::v1::PolicyMode mode) override;
  absl::StatusOr<bool> Unenroll(const std::string& uid) override;
  absl::StatusOr<probesnat::v1::PodStatus> Get(const std::string& uid) override;
  absl::Status Health() override;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  absl::Time deadline_;
};

}  // namespace probesnat::cni
