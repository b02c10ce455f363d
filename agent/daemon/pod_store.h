#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/daemon/status_event_hub.h"
#include "agent/domain/pod_state.h"

namespace probesnat::daemon {

// Told when the set of pods in the store changes: a pod appears or its spec changes, or it goes.
// Called in the order of the changes, under the store's lock: it must be quick and must not call
// back into the store (the policy gate's AddEnrolled/RemoveEnrolled are).
struct EnrolledSetListener {
  std::function<void(const agent::PodSpec&)> upserted;
  std::function<void(const std::string& uid)> removed;
};

// The published status of every enrolled pod, and the only publisher of status events. Its lock
// is held for a map update and an event fan-out, never across kernel or namespace I/O, so List,
// Get and Watch answer at once while pods are being applied.
class PodStore {
 public:
  explicit PodStore(StatusEventHub& events) : events_(events) {}

  void SetListener(EnrolledSetListener listener);

  // Records `status` as the pod's current status and publishes it.
  void Put(const agent::PodState& status);
  // Forgets the pod and publishes `removed` (phase REMOVED). Unknown uids are ignored.
  void Erase(const std::string& uid, const agent::PodState& removed);

  std::vector<agent::PodState> List() const;
  absl::StatusOr<agent::PodState> Get(const std::string& uid) const;
  // Atomic with Put/Erase: with `initial_state` every pod's status comes first, then every later
  // change.
  std::shared_ptr<StatusSubscription> Watch(bool initial_state);

 private:
  StatusEventHub& events_;
  mutable std::mutex mu_;
  std::map<std::string, agent::PodState> pods_;
  EnrolledSetListener listener_;
};

}  // namespace probesnat::daemon
