#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/policy/evaluator.h"
#include "agent/policy/policy_fix.h"

namespace probesnat::policy {

// Findings are the agent's domain type: the daemon reports them as they are.
using agent::Finding;
using agent::FindingKind;
using agent::FindingKindName;
using agent::Severity;
using agent::SeverityName;

struct AnalysisOptions {
  IpAddress probe_v4;  // default 169.254.7.127
  IpAddress probe_v6;  // default fd16:9254:7127:1337:ffff:ffff:ffff:ffff
  int tunnel_port = 15008;
  std::vector<int> extra_probe_ports;  // probed on every subject, besides its own probes
  AnalysisOptions();
};

struct PolicyFix {
  std::string policy_namespace;
  std::string policy_name;
  std::string yaml;
};

struct Report {
  std::vector<std::string> subjects;
  std::vector<std::string> notes;  // e.g. hostNetwork pods that cannot be enrolled
  std::vector<Finding> findings;
  std::vector<PolicyFix> fixes;  // one per policy, in policy order
  bool compatible() const;       // no WARNING or ERROR finding
};

// Corrected policies (YAML) by policy index and edit, for analyses over one snapshot (its views
// included): emitting YAML dominates a one-pod analysis, and the same edits recur from one pod to
// the next. Thread-safe; forgets everything when it holds `max_entries`.
class FixYamlCache {
 public:
  explicit FixYamlCache(size_t max_entries = 4096) : max_entries_(max_entries) {}
  std::string Get(const NetworkPolicy& policy, int policy_index, const PolicyEdit& edit,
                  const FixAddresses& addresses);
  size_t size() const;

 private:
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  std::optional<FixAddresses> addresses_ ABSL_GUARDED_BY(mu_);  // of every entry
  std::map<std::string, std::string> yaml_ ABSL_GUARDED_BY(mu_);
};

// What enrolling `subjects` (pod indices) in the mesh breaks, given that `enrolled` (pod indices;
// the subjects are added) are or will be in the mesh. See DESIGN.md "NetworkPolicy compatibility"
// and SEMANTICS.md. `cache` (optional) must only ever see this evaluator's snapshot.
Report Analyze(const Evaluator& evaluator, const std::vector<int>& subjects,
               const std::vector<int>& enrolled, const AnalysisOptions& options,
               FixYamlCache* cache = nullptr);

}  // namespace probesnat::policy
