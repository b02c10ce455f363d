#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/daemon/admission.h"
#include "agent/policy_gate.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::daemon {

// What a refusal and a finding say when no policy snapshot is loaded (tests look for it).
extern const char kNoSnapshotLoaded[];

// From the loosest to the strictest (ResolvePolicyMode compares them).
enum class PolicyMode { kOff, kWarn, kEnforce };

const char* PolicyModeName(PolicyMode mode);
v1::PolicyMode PolicyModeToWire(PolicyMode mode);

// The mode a request is checked in. The configured mode (--policy-mode) is a floor that a request
// may only tighten (off < warn < enforce): a request that names a looser mode gets the configured
// one, so a client cannot switch the check off.
PolicyMode ResolvePolicyMode(v1::PolicyMode requested, PolicyMode configured);

// Whether `requested` names a mode looser than `configured` (which ResolvePolicyMode ignores).
bool IsLooserThanConfigured(v1::PolicyMode requested, PolicyMode configured);

// The request's mode, or nullopt when it leaves it unspecified (or names no known mode).
std::optional<PolicyMode> RequestedPolicyMode(v1::PolicyMode requested);

// Consults `gate` unless the mode is off. In enforce mode any blocking finding refuses the pod, and
// so does a failed check; in warn mode a failed check is reported as an ERROR finding (kind
// NOT_CHECKED). Fail closed without a snapshot (`gate` null, or no snapshot loaded): enforce
// refuses ("no policy snapshot loaded" and how to load one), warn admits with a WARNING finding of
// kind NOT_CHECKED saying that nothing was checked.
Admission AdmitPod(const agent::PodSpec& pod, PolicyMode mode, const agent::PolicyGate* gate);

// One line for a person (/readyz, the start log): whether a snapshot is loaded, its age at `now`,
// source and size, and what `mode` does meanwhile, e.g. "policy snapshot: none loaded; policy mode
// enforce refuses every Enroll until Policy.ReplaceSnapshot loads one".
std::string DescribePolicySnapshot(const agent::PolicySnapshotInfo& info, PolicyMode mode,
                                   absl::Time now);

}  // namespace probesnat::daemon
