#include "agent/cli/eval_command.h"

#include <algorithm>
#include <fstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/cli/cluster_input.h"
#include "agent/cli/verdict_json.h"
#include "base/port.h"

namespace probesnat::cli {

namespace {

absl::StatusOr<std::string> StringField(const nlohmann::json& q, const char* key) {
  auto it = q.find(key);
  if (it == q.end() || it->is_null()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is required"));
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", key, "\" must be a string (\"namespace/pod\" or an IP address)"));
  }
  return it->get<std::string>();
}

absl::StatusOr<int> PortField(const nlohmann::json& q) {
  auto it = q.find("port");
  if (it == q.end() || it->is_null()) {
    return absl::InvalidArgumentError("\"port\" is required");
  }
  long port = -1;
  if (it->is_number_integer()) {
    port = it->get<long>();
  } else if (it->is_string()) {
    const std::string s = it->get<std::string>();
    if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), absl::ascii_isdigit)) {
      return absl::InvalidArgumentError(absl::StrCat("\"port\" must be a number, got \"", s, "\""));
    }
    port = std::stol(s);
  } else {
    return absl::InvalidArgumentError("\"port\" must be a number");
  }
  if (!IsPort(port)) {
    return absl::InvalidArgumentError(absl::StrCat("\"port\" ", port, " is outside 1-65535"));
  }
  return static_cast<int>(port);
}

absl::StatusOr<policy::Protocol> ProtocolField(const nlohmann::json& q) {
  auto it = q.find("protocol");
  if (it == q.end() || it->is_null()) {
    return policy::Protocol::kTCP;
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError("\"protocol\" must be a string");
  }
  std::optional<policy::Protocol> p = policy::ParseProtocol(it->get<std::string>());
  if (!p) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"protocol\" \"", it->get<std::string>(), "\" is not TCP, UDP or SCTP"));
  }
  return *p;
}

int Fail(std::ostream& err, const absl::Status& s) {
  err << "probesnatctl: " << s.message() << "\n";
  return 2;
}

}  // namespace

absl::StatusOr<nlohmann::ordered_json> EvalQuery(const policy::Evaluator& ev,
                                                 const nlohmann::json& query) {
  if (!query.is_object()) {
    return absl::InvalidArgumentError("a query must be a JSON object");
  }
  absl::StatusOr<std::string> from = StringField(query, "from");
  if (!from.ok()) {
    return from.status();
  }
  absl::StatusOr<std::string> to = StringField(query, "to");
  if (!to.ok()) {
    return to.status();
  }
  absl::StatusOr<int> port = PortField(query);
  if (!port.ok()) {
    return port.status();
  }
  absl::StatusOr<policy::Protocol> protocol = ProtocolField(query);
  if (!protocol.ok()) {
    return protocol.status();
  }
  absl::StatusOr<policy::Endpoint> src = ev.Resolve(*from);
  if (!src.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"from\": ", src.status().message()));
  }
  absl::StatusOr<policy::Endpoint> dst = ev.Resolve(*to);
  if (!dst.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"to\": ", dst.status().message()));
  }
  policy::Verdict v = ev.Evaluate(*src, *dst, *port, *protocol);
  nlohmann::ordered_json detail = VerdictToJson(ev, v);
  nlohmann::ordered_json out;
  out["allowed"] = v.allowed;
  out["from"] = *from;
  out["to"] = *to;
  out["port"] = *port;
  out["protocol"] = std::string(policy::ProtocolName(*protocol));
  for (auto it = detail.begin(); it != detail.end(); ++it) {
    if (it.key() != "allowed") {
      out[it.key()] = it.value();
    }
  }
  return out;
}

int RunEval(const EvalArgs& args, std::istream& in, std::ostream& out, std::ostream& err) {
  const bool single = !args.from.empty() || !args.to.empty() || args.port != 0;
  if (args.queries.empty() && !single) {
    return Fail(err,
                absl::InvalidArgumentError("give --queries FILE.jsonl or --from, --to and --port"));
  }
  if (!args.queries.empty() && single) {
    return Fail(err,
                absl::InvalidArgumentError("--queries cannot be combined with --from/--to/--port"));
  }
  absl::StatusOr<policy::Cluster> cluster = LoadClusters(args.clusters, err);
  if (!cluster.ok()) {
    return Fail(err, cluster.status());
  }
  policy::EvalOptions opts;
  opts.own_node_always_allowed = args.own_node_always_allowed;
  policy::Evaluator ev(std::move(*cluster), opts);

  if (single) {
    nlohmann::json q = {
        {"from", args.from}, {"to", args.to}, {"port", args.port}, {"protocol", args.protocol}};
    absl::StatusOr<nlohmann::ordered_json> r = EvalQuery(ev, q);
    if (!r.ok()) {
      return Fail(err, r.status());
    }
    out << r->dump() << "\n";
    return 0;
  }

  std::ifstream file;
  std::istream* src = &in;
  if (args.queries != "-") {
    file.open(args.queries);
    if (!file) {
      return Fail(err, absl::NotFoundError(absl::StrCat(args.queries, ": cannot open")));
    }
    src = &file;
  }
  int status = 0;
  std::string line;
  for (int lineno = 1; std::getline(*src, line); ++lineno) {
    if (absl::StripAsciiWhitespace(line).empty()) {
      continue;
    }
    absl::StatusOr<nlohmann::ordered_json> r;
    nlohmann::json q = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (q.is_discarded()) {
      r = absl::InvalidArgumentError("not valid JSON");
    } else {
      r = EvalQuery(ev, q);
    }
    if (!r.ok()) {
      err << "probesnatctl: " << args.queries << ":" << lineno << ": " << r.status().message()
          << "\n";
      out << nlohmann::ordered_json{{"error", std::string(r.status().message())}}.dump() << "\n";
      status = 2;
      continue;
    }
    out << r->dump() << "\n";
  }
  return status;
}

}  // namespace probesnat::cli
