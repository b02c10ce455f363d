#pragma once

#include "absl/status/statusor.h"
#include "agent/domain/pod_spec.h"
#include "agent/policy/model.h"

namespace probesnat::policy {

// A pod to be enrolled as the engine sees it; its probe ports become numeric probe targets.
// INVALID_ARGUMENT when it lacks a namespace or a name (the engine knows pods by them).
absl::StatusOr<Pod> PodFromSpec(const agent::PodSpec& spec);

// What a caller of Enroll sends for this pod: uid, namespace, name, labels, IPs, container ports
// and the probe ports (named probes resolved). Node and host IPs are not part of it (the gate
// takes those from the snapshot).
agent::PodSpec SpecFromPod(const Pod& pod);

}  // namespace probesnat::policy
