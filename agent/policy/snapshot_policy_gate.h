#pragma once

#include <functional>
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
class SnapshotPolicyGate : public agent::PolicyGate {
 public:
  explicit SnapshotPolicyGate(AnalysisOptions options = AnalysisOptions(),
                              EvalOptions eval_options = EvalOptions());

  void SetSnapshot(Cluster cluster);
  bool has_snapshot() const;

  // Pods already in the mesh, by UID (replaces the set / adds or replaces one / removes one).
  void SetEnrolled(const std::vector<v1::Pod>& pods);
  void AddEnrolled(const v1::Pod& pod);
  void RemoveEnrolled(const std::string& uid);
  // Where the daemon's enrolled pods come from (e.g. its reconciler's List), asked on every Check
  // in addition to the set above; must not call back into the gate. Empty function: none.
  void SetEnrolledSource(std::function<std::vector<v1::Pod>()> source);

  std::vector<v1::Finding> Check(const v1::Pod& pod) const override;
  // As Check, with extra probe ports; errors when the pod does not convert (bad IP, port).
  absl::StatusOr<std::vector<v1::Finding>> CheckPod(
      const v1::Pod& pod, const std::vector<uint32_t>& extra_probe_ports) const;

 private:
  const AnalysisOptions options_;
  const EvalOptions eval_options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Cluster> snapshot_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::Pod> enrolled_ ABSL_GUARDED_BY(mu_);
  std::function<std::vector<v1::Pod>()> enrolled_source_ ABSL_GUARDED_BY(mu_);
};

}  // namespace probesnat::policy
