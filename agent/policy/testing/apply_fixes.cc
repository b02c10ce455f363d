#include "agent/policy/testing/apply_fixes.h"

#include "absl/strings/str_cat.h"
#include "agent/policy/manifest_loader.h"

namespace probesnat::policy::testing {

absl::StatusOr<Cluster> ApplyFixes(Cluster cluster, const Report& report) {
  for (const PolicyFix& fix : report.fixes) {
    ManifestLoader loader;
    if (absl::Status s = loader.AddText(fix.yaml, "fix"); !s.ok()) {
      return s;
    }
    if (!loader.problems().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(loader.problems()[0].ToString(), "\n", fix.yaml));
    }
    Cluster parsed = loader.TakeCluster();
    if (parsed.policies.size() != 1 || parsed.policies[0].name != fix.policy_name ||
        parsed.policies[0].ns != fix.policy_namespace) {
      return absl::InvalidArgumentError(
          absl::StrCat("fix is not the policy it names:\n", fix.yaml));
    }
    cluster.UpsertPolicy(std::move(parsed.policies[0]));
  }
  return cluster;
}

}  // namespace probesnat::policy::testing
