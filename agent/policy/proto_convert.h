#pragma once

#include "absl/status/statusor.h"
#include "agent/policy/analysis.h"
#include "agent/policy/model.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::policy {

// A v1::Pod as the engine sees it. Errors: missing namespace/name, an IP or container port that
// does not parse. `probe_ports` (and the pod's own) become numeric probe targets.
absl::StatusOr<Pod> PodFromProto(const v1::Pod& pod);

// What a caller of Enroll sends for this pod: uid, namespace, name, labels, IPs, container ports
// and the probe ports (named probes resolved). Node and host IPs are not part of it (the gate
// takes those from the snapshot).
v1::Pod PodToProto(const Pod& pod);

v1::Finding FindingToProto(const Finding& finding);
// The same, moving the strings (messages, peers, corrected policies) instead of copying them.
v1::Finding FindingToProto(Finding&& finding);

}  // namespace probesnat::policy
