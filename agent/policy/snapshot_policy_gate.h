#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/policy/analysis.h"
#include "agent/policy_gate.h"

namespace probesnat::policy {

// The PolicyGate the daemon consults before Enroll: the compatibility analysis over the current
// Namespace/Pod/NetworkPolicy snapshot. The pod in the request is added to the snapshot (replacing
// the snapshot's pod of the same namespace/name, whose node and named ports it inherits when the
// request lacks them). The enrolled set (pods already in the mesh) makes the egress analysis
// consider them as HBONE destinations. Thread-safe; a snapshot is immutable once set.
//
// SetSnapshot indexes the snapshot once (selectors per policy); a Check shares that index and
// computes only the selector matches of the pods it adds (the requested pod unless the snapshot
// has it with the same labels, enrolled pods the snapshot lacks), so it costs neither a copy of
// the cluster nor a rebuild of the index, and changes of the enrolled set rebuild nothing.
class SnapshotPolicyGate : public agent::PolicyGate {
 public:
  explicit SnapshotPolicyGate(AnalysisOptions options = AnalysisOptions(),
                              EvalOptions eval_options = EvalOptions());

  // `source` says who loaded it (Snapshot().source), e.g. "Policy.ReplaceSnapshot".
  void SetSnapshot(Cluster cluster, std::string source = "");
  bool has_snapshot() const;
  agent::PolicySnapshotInfo Snapshot() const override;

  // Pods already in the mesh, by UID (replaces the set / adds or replaces one / removes one). The
  // daemon pushes every change of its enrolled set here as it happens, so a Check reads the set
  // already converted and costs nothing per enrolled pod beyond the analysis itself.
  void SetEnrolled(const std::vector<agent::PodSpec>& pods);
  void AddEnrolled(const agent::PodSpec& pod);
  void RemoveEnrolled(const std::string& uid);

  // Errors (INVALID_ARGUMENT) when the pod lacks a namespace or a name.
  absl::StatusOr<std::vector<Finding>> Check(const agent::PodSpec& pod) const override;
  // As Check, with extra probe ports.
  absl::StatusOr<std::vector<Finding>> CheckPod(
      const agent::PodSpec& pod, const std::vector<uint16_t>& extra_probe_ports) const;

 private:
  // One snapshot, indexed; shared by the checks that started while it was current.
  struct Indexed {
    explicit Indexed(Cluster cluster, EvalOptions options)
        : evaluator(std::move(cluster), options) {}
    const Evaluator evaluator;
    mutable FixYamlCache fix_yaml;  // thread-safe
  };
  void EnrolledChanged() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AnalysisOptions options_;
  const EvalOptions eval_options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Indexed> snapshot_ ABSL_GUARDED_BY(mu_);
  agent::PolicySnapshotInfo info_ ABSL_GUARDED_BY(mu_);
  // Enrolled pods by UID (namespace/name without one), converted; invalid ones are left out.
  std::map<std::string, std::shared_ptr<const Pod>> enrolled_ ABSL_GUARDED_BY(mu_);
  // enrolled_, in order; rebuilt on a change by copying pointers, shared by the checks under way.
  std::shared_ptr<const std::vector<std::shared_ptr<const Pod>>> enrolled_list_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace probesnat::policy
