#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/domain/finding.h"
#include "agent/domain/pod_spec.h"
#include "agent/domain/pod_state.h"
#include "probesnat/v1/probesnat.pb.h"

// The only place where the agent's domain types meet the probesnat.v1 API: the gRPC services
// convert at their edges, everything below them speaks the domain types.
namespace probesnat::agent {

// The pod's fields as typed values: IPs parsed (canonical, sorted), ports 1-65535, protocols
// known (empty means TCP). INVALID_ARGUMENT naming the field ("<field>.ips[1]: ...") otherwise.
// It checks form only; the Kubernetes rules for names and labels are the caller's (the daemon's
// validation applies them first).
absl::StatusOr<PodSpec> PodFromWire(const v1::Pod& pod, absl::string_view field = "pod");
v1::Pod PodToWire(const PodSpec& pod);

v1::PodPhase PhaseToWire(PodPhase phase);
v1::PodStatus StateToWire(const PodState& state);
v1::Finding FindingToWire(const Finding& finding);
// The same, moving the strings (messages, peers, corrected policies) instead of copying them.
v1::Finding FindingToWire(Finding&& finding);
// A finding as a client reads it back (probesnatctl check --agent). INVALID_ARGUMENT for a
// severity, kind or direction this build does not know.
absl::StatusOr<Finding> FindingFromWire(const v1::Finding& finding);

}  // namespace probesnat::agent
