#include "agent/cli/report_output.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace probesnat::cli {

nlohmann::ordered_json ReportToJson(const policy::Report& report) {
  nlohmann::ordered_json j;
  j["compatible"] = report.compatible();
  j["subjects"] = report.subjects;
  j["notes"] = report.notes;
  j["findings"] = nlohmann::ordered_json::array();
  for (const policy::Finding& f : report.findings) {
    nlohmann::ordered_json fj;
    fj["severity"] = std::string(policy::SeverityName(f.severity));
    fj["kind"] = std::string(policy::FindingKindName(f.kind));
    fj["subject"] = f.subject;
    fj["policy_namespace"] = f.policy_namespace;
    fj["policy_name"] = f.policy_name;
    fj["rule_index"] = f.rule_index;
    fj["direction"] = std::string(policy::DirectionName(f.direction));
    fj["message"] = f.message;
    fj["affected_peers"] = f.affected_peers;
    fj["cni_dependent"] = f.cni_dependent;
    fj["fix_yaml"] = f.fix_yaml;
    j["findings"].push_back(std::move(fj));
  }
  j["fixes"] = nlohmann::ordered_json::array();
  for (const policy::PolicyFix& fix : report.fixes) {
    j["fixes"].push_back(
        {{"namespace", fix.policy_namespace}, {"name", fix.policy_name}, {"yaml", fix.yaml}});
  }
  return j;
}

std::string ReportToText(const policy::Report& report) {
  std::string out;
  absl::StrAppend(&out, "Checked ", report.subjects.size(), " pod(s)");
  if (!report.subjects.empty() && report.subjects.size() <= 10) {
    absl::StrAppend(&out, ": ", absl::StrJoin(report.subjects, ", "));
  }
  absl::StrAppend(&out, "\n");
  for (const std::string& n : report.notes) {
    absl::StrAppend(&out, "note: ", n, "\n");
  }
  if (report.findings.empty()) {
    absl::StrAppend(&out, "Compatible: no NetworkPolicy blocks mesh traffic or probes.\n");
    return out;
  }
  absl::StrAppend(&out, report.findings.size(), " finding(s):\n\n");
  for (const policy::Finding& f : report.findings) {
    absl::StrAppend(&out, policy::SeverityName(f.severity), " ", policy::FindingKindName(f.kind),
                    " ", f.subject, "\n  policy ", f.policy_namespace, "/", f.policy_name, " ",
                    policy::DirectionName(f.direction),
                    f.rule_index >= 0 ? absl::StrCat(" rule ", f.rule_index) : " (whole policy)",
                    f.cni_dependent ? "  [CNI-dependent]" : "", "\n  ", f.message,
                    "\n  affected: ", absl::StrJoin(f.affected_peers, ", "), "\n\n");
  }
  absl::StrAppend(&out, "Corrected NetworkPolicies (kubectl apply -f -, or check -o fixes):\n",
                  FixesToYamlStream(report));
  return out;
}

std::string FixesToYamlStream(const policy::Report& report) {
  std::string out;
  for (const policy::PolicyFix& fix : report.fixes) {
    absl::StrAppend(&out, "---\n", fix.yaml);
  }
  return out;
}

}  // namespace probesnat::cli
