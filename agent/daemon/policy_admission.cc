#include "agent/daemon/policy_admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

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

Admission AdmitPod(const agent::PodSpec& pod, PolicyMode mode, const agent::PolicyGate* gate) {
  Admission admission;
  if (mode == PolicyMode::kOff || gate == nullptr) {
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
    agent::Finding failure;
    failure.severity = agent::Severity::kError;
    failure.rule_index = -1;
    failure.message = why;
    failure.subject = pod.Key();
    admission.findings.push_back(std::move(failure));
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

}  // namespace probesnat::daemon
