#include "agent/daemon/finding_log.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/daemon/log_format.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

std::string FindingLogFields(const agent::Finding& f) {
  const std::string rule = f.rule_index < 0
                               ? std::string("whole policy")
                               : absl::StrCat(agent::DirectionName(f.direction), " ", f.rule_index);
  const std::string policy =
      f.policy_name.empty() ? std::string() : absl::StrCat(f.policy_namespace, "/", f.policy_name);
  return fmt::format(
      "severity={} kind={} subject={} policy={} rule={} cni_dependent={} peers={} message={} "
      "fix={}",
      agent::SeverityName(f.severity), agent::FindingKindName(f.kind), ClientText{f.subject},
      ClientText{policy}, ClientText{rule}, f.cni_dependent,
      ClientText{absl::StrJoin(f.affected_peers, ","), kLoggedMessageLimit},
      ClientText{f.message, kLoggedMessageLimit}, ClientText{f.fix_yaml, kLoggedFixLimit});
}

void LogFindings(absl::string_view operation, absl::string_view uid, absl::string_view pod,
                 const std::vector<agent::Finding>& findings) {
  for (size_t i = 0; i < findings.size(); ++i) {
    const agent::Finding& f = findings[i];
    spdlog::log(agent::IsBlocking(f) ? spdlog::level::warn : spdlog::level::info,
                "{} uid={} pod={} finding {}/{}: {}", operation, ClientText{uid}, ClientText{pod},
                i + 1, findings.size(), FindingLogFields(f));
  }
}

}  // namespace probesnat::daemon
