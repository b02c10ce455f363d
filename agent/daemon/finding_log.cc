#include "agent/daemon/finding_log.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/log_record.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

void LogFindings(absl::string_view operation, absl::string_view uid, absl::string_view pod,
                 const std::vector<agent::Finding>& findings) {
  for (size_t i = 0; i < findings.size(); ++i) {
    const agent::Finding& f = findings[i];
    const std::string rule =
        f.rule_index < 0 ? std::string("whole policy")
                         : absl::StrCat(agent::DirectionName(f.direction), " ", f.rule_index);
    const std::string policy = f.policy_name.empty()
                                   ? std::string()
                                   : absl::StrCat(f.policy_namespace, "/", f.policy_name);
    LogRecord record(absl::StrCat(operation, " finding ", i + 1, "/", findings.size()));
    record.Uid(uid)
        .Pod(pod)
        .Word("severity", agent::SeverityName(f.severity))
        .Word("kind", agent::FindingKindName(f.kind))
        .Text("subject", f.subject)
        .Text("policy", policy)
        .Text("rule", rule)
        .Word("cni_dependent", f.cni_dependent ? "true" : "false")
        .Text("peers", absl::StrJoin(f.affected_peers, ","), kLoggedMessageLimit)
        .Text("message", f.message, kLoggedMessageLimit)
        .Text("fix", f.fix_yaml, kLoggedFixLimit);
    Log(agent::IsBlocking(f) ? spdlog::level::warn : spdlog::level::info, record);
  }
}

}  // namespace probesnat::daemon
