#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/domain/finding.h"

namespace probesnat::daemon {

// How many bytes of a finding's corrected policy (YAML) its log record echoes.
inline constexpr size_t kLoggedFixLimit = 16384;

// One finding as the fields of one log record: `severity= kind= subject= policy= rule= peers=
// message= fix=`, each string quoted and escaped like client text (policies come from clients);
// the fix's YAML spans lines, its line breaks are escaped with the rest (`\x0a`).
std::string FindingLogFields(const agent::Finding& finding);

// One record per finding of `pod`: `<operation> uid=... pod=... finding i/n: <fields>`, at warn
// level for a blocking finding (info otherwise).
void LogFindings(absl::string_view operation, absl::string_view uid, absl::string_view pod,
                 const std::vector<agent::Finding>& findings);

}  // namespace probesnat::daemon
