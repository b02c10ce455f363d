#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/domain/finding.h"

namespace probesnat::daemon {

// How many bytes of a finding's corrected policy (YAML) its log record echoes.
inline constexpr size_t kLoggedFixLimit = 16384;

// One record per finding of `pod` (log_record.h): `<operation> finding i/n uid=... pod=...
// severity= kind= subject= policy= rule= cni_dependent= peers= message= fix=`, each string quoted
// and escaped like client text (policies come from clients); the fix's YAML spans lines, its line
// breaks are escaped with the rest (`\x0a`). At warn level for a blocking finding (info otherwise).
void LogFindings(absl::string_view operation, absl::string_view uid, absl::string_view pod,
                 const std::vector<agent::Finding>& findings);

}  // namespace probesnat::daemon
