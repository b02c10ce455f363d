#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::client {

// A client of a running probesnatd over its unix socket (the CNI plugin, probesnatctl). Every call
// shares `deadline`, so a whole run (not each call) is bounded. Calls do not wait for the socket
// to appear: an absent agent is UNAVAILABLE at once. Errors carry the gRPC code as
// absl::StatusCode (the two enumerations share their values) and the agent's message unchanged;
// an Enroll refused with FAILED_PRECONDITION also carries the agent's reason
// (agent::ErrorReasonOf: the NetworkPolicy check, a namespace or an IP conflict).
class AgentConnection {
 public:
  AgentConnection(const std::string& socket_path, absl::Time deadline);

  absl::StatusOr<probesnat::v1::PodStatus> Enroll(const probesnat::v1::Pod& pod,
                                                  probesnat::v1::PolicyMode mode);
  // Whether the pod was enrolled.
  absl::StatusOr<bool> Unenroll(const std::string& uid);
  absl::StatusOr<probesnat::v1::PodStatus> Get(const std::string& uid);
  absl::StatusOr<std::vector<probesnat::v1::PodStatus>> List();
  absl::StatusOr<probesnat::v1::SyncResponse> Sync(const std::vector<probesnat::v1::Pod>& pods,
                                                   probesnat::v1::PolicyMode mode);
  // Streams pod events (after the current state of every pod when `initial_state`) to `on_event`
  // until the agent ends the stream or the cancel function handed to `on_cancel_ready` is called
  // (from any thread; the result is then CANCELLED). No deadline: a watch lasts.
  absl::Status Watch(bool initial_state,
                     const std::function<void(const probesnat::v1::PodStatus&)>& on_event,
                     const std::function<void(std::function<void()> cancel)>& on_cancel_ready);
  absl::StatusOr<probesnat::v1::PolicySnapshotStatus> PolicySnapshot();
  // Policy.Check: the compatibility analysis of `pod` against the agent's snapshot and enrolled
  // pods, changing nothing. `probe_ports` are probed besides the pod's own.
  absl::StatusOr<probesnat::v1::CheckResponse> Check(const probesnat::v1::Pod& pod,
                                                     const std::vector<uint32_t>& probe_ports);
  // OK when grpc.health.v1 reports SERVING.
  absl::Status Health();

 private:
  std::shared_ptr<grpc::Channel> channel_;
  absl::Time deadline_;
};

}  // namespace probesnat::client
