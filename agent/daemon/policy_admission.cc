#include "agent/daemon/policy_admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace probesnat::daemon {

const char* PolicyModeName(PolicyMode mode) {
  switch (mode) {
    case PolicyMode::kOff:
      return "off";
    case PolicyMode::kWarn:
      return "warn";
    case PolicyMode::kEnforce:
      return "enforce";
  }
  return "?";
}

v1::PolicyMode PolicyModeToWire(PolicyMode mode) {
  switch (mode) {
    case PolicyMode::kOff:
      return v1::POLICY_MODE_OFF;
    case PolicyMode::kWarn:
      return v1::POLICY_MODE_WARN;
    case PolicyMode::kEnforce:
      return v1::POLICY_MODE_ENFORCE;
  }
  return v1::POLICY_MODE_UNSPECIFIED;
}

std::optional<PolicyMode> RequestedPolicyMode(v1::PolicyMode requested) {
  switch (requested) {
    case v1::POLICY_MODE_OFF:
      return PolicyMode::kOff;
    case v1::POLICY_MODE_WARN:
      return PolicyMode::kWarn;
    case v1::POLICY_MODE_ENFORCE:
      return PolicyMode::kEnforce;
    default:
      return std::nullopt;
  }
}

// PolicyMode's enumerators are declared from the loosest to the strictest.
PolicyMode ResolvePolicyMode(v1::PolicyMode requested, PolicyMode configured) {
  return std::max(RequestedPolicyMode(requested).value_or(configured), configured);
}

bool IsLooserThanConfigured(v1::PolicyMode requested, PolicyMode configured) {
  std::optional<PolicyMode> mode = RequestedPolicyMode(requested);
  return mode.has_value() && *mode < configured;
}

namespace {

agent::Finding NotChecked(const agent::PodSpec& pod, agent::Severity severity, std::string why) {
  agent::Finding f;
  f.severity = severity;
  f.kind = agent::FindingKind::kNotChecked;
  f.rule_index = -1;
  f.message = std::move(why);
  f.subject = pod.Key();
  return f;
}

}  // namespace

const char kNoSnapshotLoaded[] =
    "no policy snapshot loaded, so the NetworkPolicy check cannot be made; load the cluster's "
    "Namespaces, Pods and NetworkPolicies with the Policy.ReplaceSnapshot RPC (the manifests "
    "`kubectl get ns,pods,networkpolicies -A -o yaml` prints)";

Admission AdmitPod(const agent::PodSpec& pod, PolicyMode mode, const agent::PolicyGate* gate) {
  Admission admission;
  if (mode == PolicyMode::kOff) {
    return admission;
  }
  if (gate == nullptr || !gate->Snapshot().loaded) {
    if (mode == PolicyMode::kEnforce) {
      admission.refused = true;
      admission.refusal = absl::StrCat("enrollment of ", pod.DisplayName(),
                                       " refused in policy mode enforce: ", kNoSnapshotLoaded,
                                       ", or enroll with policy mode warn to enroll unchecked");
      return admission;
    }
    admission.findings.push_back(NotChecked(
        pod, agent::Severity::kWarning,
        absl::StrCat(pod.Key(),
                     " was enrolled without a NetworkPolicy check: ", kNoSnapshotLoaded)));
    return admission;
  }
  absl::StatusOr<std::vector<agent::Finding>> findings = gate->Check(pod);
  if (!findings.ok()) {
    // Fail closed: an unchecked pod is refused in enforce mode, and reported in warn mode.
    std::string why = absl::StrCat("the NetworkPolicy check of ", pod.Key(),
                                   " failed: ", findings.status().message());
    if (mode == PolicyMode::kEnforce) {
      admission.refused = true;
      admission.refusal = absl::StrCat("enrollment of ", pod.DisplayName(),
                                       " refused in policy mode enforce: ", why);
      return admission;
    }
    admission.findings.push_back(NotChecked(pod, agent::Severity::kError, std::move(why)));
    return admission;
  }
  admission.findings = *std::move(findings);
  if (mode != PolicyMode::kEnforce) {
    return admission;
  }
  std::string text;
  int blocking = 0;
  for (const agent::Finding& f : admission.findings) {
    if (!agent::IsBlocking(f)) {
      continue;
    }
    ++blocking;
    std::string rule =
        f.rule_index < 0 ? std::string("(whole policy)")
                         : absl::StrCat(agent::DirectionName(f.direction), " rule ", f.rule_index);
    absl::StrAppend(&text, "\n  - NetworkPolicy ", f.policy_namespace, "/", f.policy_name, ", ",
                    rule, " (SEVERITY_", agent::SeverityName(f.severity), "): ", f.message);
  }
  if (blocking > 0) {
    admission.refused = true;
    admission.refusal = absl::StrCat(
        "enrollment of ", pod.DisplayName(), " refused in policy mode enforce: ", blocking,
        " NetworkPolicy finding(s) would break mesh traffic or probes;"
        " apply the fixes from the Policy.Check RPC or enroll with policy mode warn:",
        text);
  }
  return admission;
}

std::string DescribePolicySnapshot(const agent::PolicySnapshotInfo& info, PolicyMode mode,
                                   absl::Time now) {
  if (!info.loaded) {
    const char* meanwhile =
        mode == PolicyMode::kEnforce
            ? "refuses every Enroll until Policy.ReplaceSnapshot loads one"
            : (mode == PolicyMode::kWarn ? "enrolls pods unchecked (finding NOT_CHECKED) until "
                                           "Policy.ReplaceSnapshot loads one"
                                         : "does not check");
    return absl::StrCat("policy snapshot: none loaded; policy mode ", PolicyModeName(mode), " ",
                        meanwhile);
  }
  return absl::StrFormat(
      "policy snapshot: loaded %.1f s ago (%s) from %s: %d namespaces, %d pods, %d "
      "NetworkPolicies; policy mode %s",
      absl::ToDoubleSeconds(now - info.loaded_at),
      absl::FormatTime(absl::RFC3339_sec, info.loaded_at, absl::UTCTimeZone()),
      info.source.empty() ? "an unnamed source" : info.source, info.namespaces, info.pods,
      info.policies, PolicyModeName(mode));
}

}  // namespace probesnat::daemon
