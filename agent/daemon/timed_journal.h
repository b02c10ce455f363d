#pragma once

#include <string>

#include "agent/daemon/daemon_observer.h"
#include "agent/daemon/pod_journal.h"

namespace probesnat::daemon {

// A PodJournal that forwards every call to `inner` and reports how long each durable write took
// (Put and Erase return once the record is on disk) to `observer`.
class TimedJournal final : public PodJournal {
 public:
  TimedJournal(PodJournal& inner, DaemonObserver& observer) : inner_(inner), observer_(observer) {}

  absl::Status Put(const JournaledPod& pod) override;
  absl::Status Erase(const std::string& uid) override;

 private:
  PodJournal& inner_;
  DaemonObserver& observer_;
};

}  // namespace probesnat::daemon
