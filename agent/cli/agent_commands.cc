#include "agent/cli/agent_commands.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <ostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/cli/json_yaml.h"
#include "agent/cli/pod_file.h"
#include "agent/client/agent_connection.h"
#include "google/protobuf/util/json_util.h"

namespace probesnat::cli {
namespace {

constexpr int kOk = 0;
constexpr int kNo = 1;
constexpr int kError = 2;

client::AgentConnection Connect(const AgentArgs& args) {
  return client::AgentConnection(args.socket,
                                 absl::Now() + absl::Seconds(args.timeout_seconds));
}

std::string Explain(const AgentArgs& args, const absl::Status& st) {
  return AgentErrorText(args.socket, st);
}

bool ValidOutput(const AgentArgs& args, std::ostream& err) {
  if (args.output == "table" || args.output == "wide" || args.output == "json" ||
      args.output == "yaml") {
    return true;
  }
  err << "probesnatctl: -o must be table, wide, json or yaml, not \"" << args.output << "\"\n";
  return false;
}

nlohmann::ordered_json ToJson(const google::protobuf::Message& m) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &text, options);
  return nlohmann::ordered_json::parse(text);
}

void PrintStructured(const AgentArgs& args, const nlohmann::ordered_json& j, std::ostream& out) {
  if (args.output == "json") {
    out << j.dump(2) << "\n";
  } else {
    out << JsonToYaml(j);
  }
}

std::string Phase(const v1::PodStatus& s) {
  std::string name = v1::PodPhase_Name(s.phase());
  const std::string prefix = "POD_PHASE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

void PrintTable(const std::vector<v1::PodStatus>& pods, bool wide, std::ostream& out) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"UID", "POD", "PHASE", "IPS", "FINDINGS", "GEN"});
  if (wide) {
    rows.front().insert(rows.front().end(), {"NETNS", "REASON"});
  }
  for (const v1::PodStatus& s : pods) {
    std::vector<std::string> row = {
        s.pod().uid(),
        absl::StrCat(s.pod().namespace_(), "/", s.pod().name()),
        Phase(s),
        absl::StrJoin(s.pod().ips(), ","),
        absl::StrCat(s.findings_size()),
        absl::StrCat(s.generation())};
    if (wide) {
      row.push_back(s.pod().netns_path());
      row.push_back(s.reason());
    }
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(width[i] - row[i].size() + 3, ' ');
      }
    }
    out << line << "\n";
  }
}

std::optional<v1::PolicyMode> ParseMode(const std::string& mode) {
  if (mode.empty()) {
    return v1::POLICY_MODE_UNSPECIFIED;
  }
  if (mode == "off") {
    return v1::POLICY_MODE_OFF;
  }
  if (mode == "warn") {
    return v1::POLICY_MODE_WARN;
  }
  if (mode == "enforce") {
    return v1::POLICY_MODE_ENFORCE;
  }
  return std::nullopt;
}

// The pods of args.file and the policy mode for enroll -f / sync -f, after checking -o; nullopt
// after saying why not.
std::optional<std::vector<v1::Pod>> PodsAndMode(const AgentArgs& args, v1::PolicyMode& mode,
                                                std::ostream& err) {
  if (!ValidOutput(args, err)) {
    return std::nullopt;
  }
  std::optional<v1::PolicyMode> parsed = ParseMode(args.policy_mode);
  if (!parsed) {
    err << "probesnatctl: --policy-mode must be off, warn or enforce, not \"" << args.policy_mode
        << "\"\n";
    return std::nullopt;
  }
  mode = *parsed;
  absl::StatusOr<std::vector<v1::Pod>> pods = ReadPodFile(args.file);
  if (!pods.ok()) {
    err << "probesnatctl: " << pods.status().message() << "\n";
    return std::nullopt;
  }
  return *std::move(pods);
}

void PrintStatuses(const AgentArgs& args, const std::vector<v1::PodStatus>& statuses,
                   std::ostream& out) {
  if (args.output == "json" || args.output == "yaml") {
    nlohmann::ordered_json items = nlohmann::ordered_json::array();
    for (const v1::PodStatus& s : statuses) {
      items.push_back(ToJson(s));
    }
    PrintStructured(args, nlohmann::ordered_json{{"pods", items}}, out);
  } else {
    PrintTable(statuses, args.output == "wide", out);
  }
}

}  // namespace

std::string AgentErrorText(const std::string& socket, const absl::Status& st) {
  if (st.code() == absl::StatusCode::kUnavailable ||
      st.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::StrCat("cannot reach probesnatd on unix:", socket, ": ", st.message(),
                        " (is it running? another socket: --socket PATH)");
  }
  return absl::StrCat("probesnatd answered ", absl::StatusCodeToString(st.code()), ": ",
                      st.message());
}

int RunEnroll(const AgentArgs& args, std::ostream& out, std::ostream& err) {
  v1::PolicyMode mode = v1::POLICY_MODE_UNSPECIFIED;
  std::optional<std::vector<v1::Pod>> pods = PodsAndMode(args, mode, err);
  if (!pods) {
    return kError;
  }
  client::AgentConnection agent = Connect(args);
  std::vector<v1::PodStatus> enrolled;
  int refused = 0;
  for (const v1::Pod& pod : *pods) {
    absl::StatusOr<v1::PodStatus> st = agent.Enroll(pod, mode);
    if (absl::IsUnavailable(st.status()) && enrolled.empty() && refused == 0) {
      err << "probesnatctl: " << Explain(args, st.status()) << "\n";
      return kError;
    }
    if (!st.ok()) {
      ++refused;
      err << "probesnatctl: pod " << pod.namespace_() << "/" << pod.name() << " (uid " << pod.uid()
          << ") not enrolled: " << absl::StatusCodeToString(st.status().code()) << ": "
          << st.status().message() << "\n";
      continue;
    }
    enrolled.push_back(*std::move(st));
  }
  if (!enrolled.empty()) {
    PrintStatuses(args, enrolled, out);
  }
  for (const v1::PodStatus& s : enrolled) {
    refused += s.phase() == v1::POD_PHASE_APPLIED ? 0 : 1;
  }
  return refused == 0 ? kOk : kNo;
}

int RunSync(const AgentArgs& args, std::ostream& out, std::ostream& err) {
  v1::PolicyMode mode = v1::POLICY_MODE_UNSPECIFIED;
  std::optional<std::vector<v1::Pod>> pods = PodsAndMode(args, mode, err);
  if (!pods) {
    return kError;
  }
  absl::StatusOr<v1::SyncResponse> synced = Connect(args).Sync(*pods, mode);
  if (!synced.ok()) {
    err << "probesnatctl: " << Explain(args, synced.status()) << "\n";
    return kError;
  }
  std::vector<v1::PodStatus> statuses(synced->statuses().begin(), synced->statuses().end());
  PrintStatuses(args, statuses, out);
  for (const std::string& uid : synced->removed_uids()) {
    err << "unenrolled (not in " << args.file << "): pod uid " << uid << "\n";
  }
  for (const v1::PodStatus& s : statuses) {
    if (s.phase() != v1::POD_PHASE_APPLIED) {
      return kNo;
    }
  }
  return kOk;
}

int RunWatch(const AgentArgs& args, std::ostream& out, std::ostream& err) {
  // SIGINT/SIGTERM end the watch: blocked here (every thread inherits the mask), taken by sigwait.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::mutex mu;
  std::function<void()> cancel;
  bool ended = false, stopped = false;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    std::lock_guard<std::mutex> lock(mu);
    if (ended) {
      return;  // woken because the stream ended
    }
    stopped = true;
    if (!ended && cancel) {
      cancel();
    }
  });
  client::AgentConnection agent = Connect(args);
  absl::Status st = agent.Watch(
      args.initial_state,
      [&out](const v1::PodStatus& s) {
        out << s.pod().uid() << " " << s.pod().namespace_() << "/" << s.pod().name() << " "
            << Phase(s) << " gen " << s.generation()
            << (s.reason().empty() ? "" : " reason: " + s.reason()) << std::endl;
      },
      [&](std::function<void()> c) {
        std::lock_guard<std::mutex> lock(mu);
        cancel = std::move(c);
        if (stopped) {
          cancel();
        }
      });
  {
    std::lock_guard<std::mutex> lock(mu);
    ended = true;
  }
  if (!stopped) {
    // Wake the waiter: the stream ended without a signal.
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  if (stopped && (st.ok() || st.code() == absl::StatusCode::kCancelled)) {
    return kOk;
  }
  err << "probesnatctl: " << (st.ok() ? "the agent ended the watch" : Explain(args, st)) << "\n";
  return kError;
}

int RunStatus(const AgentArgs& args, std::ostream& out, std::ostream& err) {
  if (!ValidOutput(args, err)) {
    return kError;
  }
  client::AgentConnection agent = Connect(args);
  absl::Status health = agent.Health();
  if (!health.ok() && health.code() != absl::StatusCode::kUnavailable) {
    err << "probesnatctl: " << Explain(args, health) << "\n";
    return kError;
  }
  absl::StatusOr<std::vector<v1::PodStatus>> pods = agent.List();
  if (!pods.ok()) {
    err << "probesnatctl: " << Explain(args, pods.status()) << "\n";
    return kError;
  }
  std::map<std::string, int> by_phase = {{"PENDING", 0}, {"APPLIED", 0}, {"FAILED", 0}};
  for (const v1::PodStatus& s : *pods) {
    ++by_phase[Phase(s)];
  }
  absl::StatusOr<v1::PolicySnapshotStatus> snapshot = agent.PolicySnapshot();
  if (args.output == "json" || args.output == "yaml") {
    nlohmann::ordered_json j;
    j["socket"] = args.socket;
    j["serving"] = health.ok();
    if (!health.ok()) {
      j["health"] = std::string(health.message());
    }
    j["pods"] = pods->size();
    for (const auto& [phase, n] : by_phase) {
      j["pods_by_phase"][phase] = n;
    }
    if (snapshot.ok()) {
      j["policy_snapshot"] = ToJson(*snapshot);
    }
    PrintStructured(args, j, out);
  } else {
    out << "agent:     " << (health.ok() ? "SERVING" : "NOT SERVING") << " on unix:" << args.socket;
    if (!health.ok()) {
      out << " (" << health.message() << ")";
    }
    out << "\npods:      " << pods->size() << " enrolled (" << by_phase["APPLIED"] << " applied, "
        << by_phase["PENDING"] << " pending, " << by_phase["FAILED"] << " failed)\n";
    if (snapshot.ok()) {
      out << "policy:    mode "
          << absl::AsciiStrToLower(v1::PolicyMode_Name(snapshot->policy_mode()).substr(12))
          << ", snapshot ";
      if (snapshot->loaded()) {
        char age[32];
        std::snprintf(age, sizeof(age), "%.1f", snapshot->age_seconds());
        out << "loaded " << age << " s ago (" << snapshot->namespaces() << " namespaces, "
            << snapshot->pods() << " pods, " << snapshot->policies() << " NetworkPolicies)";
      } else {
        out << "none loaded";
      }
      if (snapshot->enroll_refused()) {
        out << "; every Enroll is refused until one is loaded";
      }
      out << "\n";
    }
  }
  return health.ok() ? kOk : kNo;
}

int RunList(const AgentArgs& args, std::ostream& out, std::ostream& err) {
  if (!ValidOutput(args, err)) {
    return kError;
  }
  absl::StatusOr<std::vector<v1::PodStatus>> pods = Connect(args).List();
  if (!pods.ok()) {
    err << "probesnatctl: " << Explain(args, pods.status()) << "\n";
    return kError;
  }
  if (args.output == "json" || args.output == "yaml") {
    nlohmann::ordered_json items = nlohmann::ordered_json::array();
    for (const v1::PodStatus& s : *pods) {
      items.push_back(ToJson(s));
    }
    PrintStructured(args, nlohmann::ordered_json{{"pods", items}}, out);
  } else {
    PrintTable(*pods, args.output == "wide", out);
  }
  return kOk;
}

int RunGet(const AgentArgs& args, std::ostream& out, std::ostream& err) {
  if (!ValidOutput(args, err)) {
    return kError;
  }
  absl::StatusOr<v1::PodStatus> pod = Connect(args).Get(args.uid);
  if (absl::IsNotFound(pod.status())) {
    err << "probesnatctl: pod uid " << args.uid << " is not enrolled on this node\n";
    return kNo;
  }
  if (!pod.ok()) {
    err << "probesnatctl: " << Explain(args, pod.status()) << "\n";
    return kError;
  }
  if (args.output == "json" || args.output == "yaml") {
    PrintStructured(args, ToJson(*pod), out);
    return kOk;
  }
  PrintTable({*pod}, args.output == "wide", out);
  for (const v1::Finding& f : pod->findings()) {
    out << "finding: " << v1::Severity_Name(f.severity()) << " " << f.message() << "\n";
  }
  if (!pod->reason().empty() && args.output != "wide") {
    out << "reason: " << pod->reason() << "\n";
  }
  return kOk;
}

int RunUnenroll(const AgentArgs& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<bool> was = Connect(args).Unenroll(args.uid);
  if (!was.ok()) {
    err << "probesnatctl: " << Explain(args, was.status()) << "\n";
    return kError;
  }
  if (*was) {
    out << "unenrolled pod uid " << args.uid << ": its rules are removed\n";
  } else {
    err << "pod uid " << args.uid << " was not enrolled; nothing to remove\n";
  }
  return kOk;
}

}  // namespace probesnat::cli
