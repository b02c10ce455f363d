#include "agent/cli/agent_check_command.h"

#include <cstdio>
#include <map>
#include <ostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/cli/check_command.h"
#include "agent/cli/pod_file.h"
#include "agent/client/agent_connection.h"
#include "agent/domain/wire.h"
#include "base/port.h"

namespace probesnat::cli {
namespace {

int Fail(std::ostream& err, absl::string_view message) {
  err << "probesnatctl: " << message << "\n";
  return kExitError;
}

std::string SnapshotNote(const v1::PolicySnapshotStatus& s) {
  char age[32];
  std::snprintf(age, sizeof(age), "%.1f", s.age_seconds());
  return absl::StrCat("checked against probesnatd's policy snapshot, loaded ", age, " s ago by ",
                      s.source(), ": ", s.namespaces(), " namespaces, ", s.pods(), " pods, ",
                      s.policies(), " NetworkPolicies");
}

}  // namespace

int RunAgentCheck(const AgentCheckArgs& args, std::ostream& out, std::ostream& err) {
  if (!ValidCheckOutput(args.output)) {
    return Fail(err,
                absl::StrCat("-o must be text, json, yaml or fixes, not \"", args.output, "\""));
  }
  if (args.uids.empty() && args.agent.file.empty()) {
    return Fail(err, "check --agent needs the uid of an enrolled pod or -f pod.yaml");
  }
  std::vector<uint32_t> probe_ports;
  for (int p : args.probe_ports) {
    if (!IsPort(p)) {
      return Fail(err, absl::StrCat("--probe-port ", p, " is outside 1-65535"));
    }
    probe_ports.push_back(static_cast<uint32_t>(p));
  }
  std::vector<v1::Pod> pods;
  if (!args.agent.file.empty()) {
    absl::StatusOr<std::vector<v1::Pod>> from_file = ReadPodFile(args.agent.file);
    if (!from_file.ok()) {
      return Fail(err, from_file.status().message());
    }
    pods = *std::move(from_file);
  }
  client::AgentConnection agent(args.agent.socket,
                                absl::Now() + absl::Seconds(args.agent.timeout_seconds));
  absl::StatusOr<v1::PolicySnapshotStatus> snapshot = agent.PolicySnapshot();
  if (!snapshot.ok()) {
    return Fail(err, AgentErrorText(args.agent.socket, snapshot.status()));
  }
  if (!snapshot->loaded()) {
    return Fail(err,
                "probesnatd has no policy snapshot loaded (nothing was sent to "
                "Policy.ReplaceSnapshot since it started), so there is nothing to check against; "
                "check files instead: probesnatctl check --cluster FILE --pod NS/NAME");
  }
  for (const std::string& uid : args.uids) {
    absl::StatusOr<v1::PodStatus> enrolled = agent.Get(uid);
    if (absl::IsNotFound(enrolled.status())) {
      return Fail(err, absl::StrCat("pod uid ", uid,
                                    " is not enrolled on this node; give its spec with -f FILE"));
    }
    if (!enrolled.ok()) {
      return Fail(err, AgentErrorText(args.agent.socket, enrolled.status()));
    }
    pods.push_back(enrolled->pod());
  }

  policy::Report report;
  report.notes.push_back(SnapshotNote(*snapshot));
  std::map<std::pair<std::string, std::string>, std::string> fix_of_policy;
  bool conflicting_fixes = false;
  for (const v1::Pod& pod : pods) {
    const std::string subject = absl::StrCat(pod.namespace_(), "/", pod.name());
    absl::StatusOr<v1::CheckResponse> checked = agent.Check(pod, probe_ports);
    if (!checked.ok()) {
      return Fail(err, absl::StrCat("pod ", subject, ": ",
                                    AgentErrorText(args.agent.socket, checked.status())));
    }
    report.subjects.push_back(subject);
    for (const v1::Finding& wire : checked->findings()) {
      absl::StatusOr<policy::Finding> f = agent::FindingFromWire(wire);
      if (!f.ok()) {
        return Fail(err,
                    absl::StrCat("pod ", subject, ": the agent's answer: ", f.status().message()));
      }
      if (!f->fix_yaml.empty()) {
        auto key = std::make_pair(f->policy_namespace, f->policy_name);
        auto [it, inserted] = fix_of_policy.emplace(key, f->fix_yaml);
        if (inserted) {
          report.fixes.push_back({f->policy_namespace, f->policy_name, f->fix_yaml});
        } else if (it->second != f->fix_yaml) {
          conflicting_fixes = true;
          report.notes.push_back(absl::StrCat(
              "NetworkPolicy ", key.first, "/", key.second, " needs a different correction for ",
              subject,
              " than for a pod before it (each is checked alone): check one pod at a time "
              "and apply each fix before the next check"));
        }
      }
      report.findings.push_back(*std::move(f));
    }
  }
  if (conflicting_fixes && args.output == "fixes") {
    for (const std::string& n : report.notes) {
      err << "probesnatctl: note: " << n << "\n";
    }
    return Fail(err, "no fixes printed: they would overwrite each other");
  }
  return PrintCheckReport(report, args.output, out, err);
}

}  // namespace probesnat::cli
