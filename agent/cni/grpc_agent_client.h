#pragma once

#include <string>

#include "absl/time/time.h"
#include "agent/client/agent_connection.h"
#include "agent/cni/agent_client.h"

namespace probesnat::cni {

// AgentClient over probesnatd's unix socket (client::AgentConnection). Every call of one plugin
// run shares `deadline`, so the whole run (not each call) is bounded by the configured timeout.
class GrpcAgentClient : public AgentClient {
 public:
  GrpcAgentClient(const std::string& socket_path, absl::Time deadline)
      : connection_(socket_path, deadline) {}

  absl::Status Enroll(const probesnat::v1::Pod& pod, probesnat::v1::PolicyMode mode) override {
    return connection_.Enroll(pod, mode).status();
  }
  absl::StatusOr<bool> Unenroll(const std::string& uid) override {
    return connection_.Unenroll(uid);
  }
  absl::StatusOr<probesnat::v1::PodStatus> Get(const std::string& uid) override {
    return connection_.Get(uid);
  }
  absl::Status Health() override { return connection_.Health(); }

 private:
  client::AgentConnection connection_;
};

}  // namespace probesnat::cni
