#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "agent/domain/pod_spec.h"
#include "base/netns_id.h"

namespace probesnat::daemon {

// One pod as the agent must remember it across a restart: what was asked for, which generation of
// it was applied, and the identity of the network namespace it was applied in (so that a path
// naming another namespace after the restart is seen as the pod's namespace being gone).
struct JournaledPod {
  agent::PodSpec spec;
  uint64_t generation = 0;
  NetnsId netns;
  // Its removal (Unenroll, Sync) had begun: after a restart the removal is finished, the pod is not
  // re-adopted.
  bool removing = false;

  bool operator==(const JournaledPod&) const = default;
};

// Where the reconciler records desired state before it answers: a pod is put before its rules are
// written and erased only after they are removed, so that after a crash at any moment every table
// and host set member in the kernel belongs to a pod the journal names. Each call returns once the
// record is durable. Thread-safe.
class PodJournal {
 public:
  virtual ~PodJournal() = default;
  virtual absl::Status Put(const JournaledPod& pod) = 0;
  virtual absl::Status Erase(const std::string& uid) = 0;
};

}  // namespace probesnat::daemon
