#include "agent/cli/verdict_json.h"

namespace probesnat::cli {

namespace {

nlohmann::ordered_json DirectionJson(const policy::Evaluator& ev,
                                     const policy::DirectionVerdict& d) {
  const policy::Cluster& c = ev.cluster();
  nlohmann::ordered_json j;
  j["allowed"] = d.allowed;
  j["applies"] = d.applies;
  j["isolated"] = d.isolated;
  j["policies"] = nlohmann::ordered_json::array();
  for (int p : d.policies) {
    j["policies"].push_back(c.policies[p].Key());
  }
  j["allowed_by"] = nlohmann::ordered_json::array();
  for (const policy::RuleRef& r : d.allowed_by) {
    j["allowed_by"].push_back({{"policy", c.policies[r.policy].Key()}, {"rule", r.rule}});
  }
  j["reason"] = d.reason;
  return j;
}

}  // namespace

nlohmann::ordered_json VerdictToJson(const policy::Evaluator& ev, const policy::Verdict& v) {
  nlohmann::ordered_json j;
  j["allowed"] = v.allowed;
  j["family"] = v.family == IpFamily::kV4 ? "IPv4" : "IPv6";
  j["egress"] = DirectionJson(ev, v.egress);
  j["ingress"] = DirectionJson(ev, v.ingress);
  j["reason"] = v.reason;
  return j;
}

}  // namespace probesnat::cli
