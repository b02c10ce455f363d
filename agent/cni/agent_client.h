#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::cni {

// What the plugin asks of probesnatd. Errors carry the gRPC code as absl::StatusCode (the two
// enumerations share their values), the agent's message unchanged.
class AgentClient {
 public:
  virtual ~AgentClient() = default;
  virtual absl::Status Enroll(const probesnat::v1::Pod& pod, probesnat::v1::PolicyMode mode) = 0;
  // Whether the pod was enrolled.
  virtual absl::StatusOr<bool> Unenroll(const std::string& uid) = 0;
  virtual absl::StatusOr<probesnat::v1::PodStatus> Get(const std::string& uid) = 0;
  // OK when grpc.health.v1 reports SERVING.
  virtual absl::Status Health() = 0;
};

// Whether probesnat's table exists in a network namespace (CHECK looks at the kernel, not only
// at what the agent believes).
class PodTableProbe {
 public:
  virtual ~PodTableProbe() = default;
  virtual absl::StatusOr<bool> HasPodTable(const std::string& netns_path) = 0;
};

}  // namespace probesnat::cni
