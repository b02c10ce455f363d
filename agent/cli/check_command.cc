#include "agent/cli/check_command.h"

#include <ostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/cli/cluster_input.h"
#include "agent/cli/json_yaml.h"
#include "agent/cli/report_output.h"
#include "agent/policy/analysis.h"
#include "agent/policy/label_selector.h"
#include "base/port.h"

namespace probesnat::cli {

namespace {

int Fail(std::ostream& err, absl::string_view message) {
  err << "probesnatctl: " << message << "\n";
  return kExitError;
}

bool Selectable(const policy::Pod& p) { return !p.host_network && !p.terminated; }

// -o fixes: stdout is only the YAML stream, so what a person needs to know goes to stderr.
void ReportFixesSummary(const policy::Report& report, std::ostream& err) {
  for (const std::string& n : report.notes) {
    err << "probesnatctl: note: " << n << "\n";
  }
  if (report.fixes.empty()) {
    err << "probesnatctl: " << report.subjects.size()
        << " pod(s) checked, no NetworkPolicy needs fixing\n";
    return;
  }
  std::vector<std::string> names;
  for (const policy::PolicyFix& fix : report.fixes) {
    names.push_back(absl::StrCat(fix.policy_namespace, "/", fix.policy_name));
  }
  err << "probesnatctl: " << report.subjects.size() << " pod(s) checked, " << report.findings.size()
      << " finding(s); corrected NetworkPolicies on stdout: " << absl::StrJoin(names, ", ") << "\n";
}

}  // namespace

bool ValidCheckOutput(absl::string_view output) {
  return output == "text" || output == "json" || output == "yaml" || output == "fixes";
}

int PrintCheckReport(const policy::Report& report, absl::string_view output, std::ostream& out,
                     std::ostream& err) {
  if (output == "json") {
    out << ReportToJson(report).dump(2) << "\n";
  } else if (output == "yaml") {
    out << JsonToYaml(ReportToJson(report));
  } else if (output == "fixes") {
    out << FixesToYamlStream(report);
    ReportFixesSummary(report, err);
  } else {
    out << ReportToText(report);
  }
  return report.compatible() ? kExitCompatible : kExitFindings;
}

int RunCheck(const CheckArgs& args, std::ostream& out, std::ostream& err) {
  if (!ValidCheckOutput(args.output)) {
    return Fail(err,
                absl::StrCat("-o must be text, json, yaml or fixes, not \"", args.output, "\""));
  }
  if (args.pods.empty() && args.namespace_name.empty() && args.selector.empty()) {
    return Fail(err, "give --pod ns/name, --namespace ns or --selector LABELS");
  }
  policy::AnalysisOptions opts;
  absl::StatusOr<IpAddress> v4 = IpAddress::Parse(args.probe_v4);
  absl::StatusOr<IpAddress> v6 = IpAddress::Parse(args.probe_v6);
  if (!v4.ok() || !v4->is_v4()) {
    return Fail(err, "--probe-address-v4 must be an IPv4 address");
  }
  if (!v6.ok() || v6->is_v4()) {
    return Fail(err, "--probe-address-v6 must be an IPv6 address");
  }
  opts.probe_v4 = *v4;
  opts.probe_v6 = *v6;
  if (!IsPort(args.tunnel_port)) {
    return Fail(err, "--tunnel-port out of range");
  }
  opts.tunnel_port = args.tunnel_port;
  for (int p : args.probe_ports) {
    if (!IsPort(p)) {
      return Fail(err, absl::StrCat("--probe-port ", p, " is outside 1-65535"));
    }
  }
  opts.extra_probe_ports = args.probe_ports;
  std::optional<policy::LabelSelector> selector;
  if (!args.selector.empty()) {
    absl::StatusOr<policy::LabelSelector> s = policy::ParseSelectorString(args.selector);
    if (!s.ok()) {
      return Fail(err, absl::StrCat("--selector: ", s.status().message()));
    }
    selector = *s;
  }

  absl::StatusOr<policy::Cluster> cluster = LoadClusters(args.clusters, err);
  if (!cluster.ok()) {
    return Fail(err, cluster.status().message());
  }
  policy::Evaluator ev(std::move(*cluster));
  const std::vector<policy::Pod>& pods = ev.cluster().pods;

  std::set<int> subjects;
  for (const std::string& ref : args.pods) {
    size_t slash = ref.find('/');
    std::optional<int> idx;
    if (slash != std::string::npos) {
      idx = ev.FindPod(ref.substr(0, slash), ref.substr(slash + 1));
    }
    if (!idx) {
      return Fail(err, absl::StrCat("--pod: no pod \"", ref, "\" in the cluster"));
    }
    subjects.insert(*idx);
  }
  if (!args.namespace_name.empty() || selector) {
    for (int i = 0; i < static_cast<int>(pods.size()); ++i) {
      const policy::Pod& p = pods[i];
      if (!Selectable(p)) {
        continue;
      }
      if (!args.namespace_name.empty() && p.ns != args.namespace_name) {
        continue;
      }
      if (selector && !selector->Matches(p.labels)) {
        continue;
      }
      subjects.insert(i);
    }
  }
  std::set<int> enrolled(subjects);
  for (const std::string& ref : args.enrolled) {
    size_t slash = ref.find('/');
    std::optional<int> idx;
    if (slash != std::string::npos) {
      idx = ev.FindPod(ref.substr(0, slash), ref.substr(slash + 1));
    }
    if (!idx) {
      return Fail(err, absl::StrCat("--enrolled: no pod \"", ref, "\" in the cluster"));
    }
    enrolled.insert(*idx);
  }
  for (const std::string& ns : args.enrolled_namespaces) {
    for (int i = 0; i < static_cast<int>(pods.size()); ++i) {
      if (pods[i].ns == ns && Selectable(pods[i])) {
        enrolled.insert(i);
      }
    }
  }
  policy::Report report = policy::Analyze(ev, {subjects.begin(), subjects.end()},
                                          {enrolled.begin(), enrolled.end()}, opts);
  if (report.subjects.empty()) {
    report.notes.push_back("no pod matched the selection");
  }
  return PrintCheckReport(report, args.output, out, err);
}

}  // namespace probesnat::cli
