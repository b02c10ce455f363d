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

Admission AdmitPod(const v1::Pod& pod, PolicyMode mode, const agent::PolicyGate* gate) {
  Admission admission;
  if (mode == PolicyMode::kOff || gate == nullptr) {
    return admission;
  }
  absl::StatusOr<std::vector<v1::Finding>> findings = gate->Check(pod);
  if (!findings.ok()) {
    // Fail closed: an unchecked pod is refused in enforce mode, and reported in warn mode.
    std::string why = absl::StrCat("the NetworkPolicy check of ", pod.namespace_(), "/", pod.name(),
                                   " failed: ", findings.status().message());
    if (mode == PolicyMode::kEnforce) {
      admission.refused = true;
      admission.refusal =
          absl::StrCat("enrollment of ", pod.namespace_(), "/", pod.name(), " (uid ", pod.uid(),
                       ") refused in policy mode enforce: ", why);
      return admission;
    }
    v1::Finding failure;
    failure.set_severity(v1::SEVERITY_ERROR);
    failure.set_rule_index(-1);
    failure.set_message(why);
    failure.set_subject(absl::StrCat(pod.namespace_(), "/", pod.name()));
    admission.findings.push_back(std::move(failure));
    return admission;
  }
  admission.findings = *std::move(findings);
  if (mode != PolicyMode::kEnforce) {
    return admission;
  }
  std::string text;
  int blocking = 0;
  for (const v1::Finding& f : admission.findings) {
    if (!agent::IsBlocking(f)) {
      continue;
    }
    ++blocking;
    std::string rule = f.rule_index() < 0 ? std::string("(whole policy)")
                                          : absl::StrCat(f.direction(), " rule ", f.rule_index());
    absl::StrAppend(&text, "\n  - NetworkPolicy ", f.policy_namespace(), "/", f.policy_name(), ", ",
                    rule, " (", v1::Severity_Name(f.severity()), "): ", f.message());
  }
  if (blocking > 0) {
    admission.refused = true;
    admission.refusal =
        absl::StrCat("enrollment of ", pod.namespace_(), "/", pod.name(), " (uid ", pod.uid(),
                     ") refused in policy mode enforce: ", blocking,
                     " NetworkPolicy finding(s) would break mesh traffic or probes;"
                     " apply the fixes from the Policy.Check RPC or enroll with policy mode warn:",
                     text);
  }
  return admission;
}

}  // namespace probesnat::daemon
