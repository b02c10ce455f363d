#include "agent/policy/snapshot_policy_gate.h"

#include "agent/policy/pod_convert.h"

namespace probesnat::policy {

namespace {

std::string EnrolledKey(const agent::PodSpec& p) { return p.uid.empty() ? p.Key() : p.uid; }

// The requested pod as it enters the snapshot: what only the snapshot knows (node, host IPs, named
// ports, manifest probes) comes from the snapshot's pod of the same namespace/name, if any.
void InheritFromSnapshot(const Evaluator& snapshot, Pod& pod) {
  std::optional<int> i = snapshot.FindPod(pod.ns, pod.name);
  if (!i) {
    return;
  }
  const Pod& old = snapshot.pod(*i);
  if (pod.ports.empty()) {
    pod.ports = old.ports;
  }
  if (pod.ips.empty()) {
    pod.ips = old.ips;
  }
  pod.node_name = old.node_name;
  pod.host_ips = old.host_ips;
  pod.probes.insert(pod.probes.end(), old.probes.begin(), old.probes.end());
}

}  // namespace

SnapshotPolicyGate::SnapshotPolicyGate(AnalysisOptions options, EvalOptions eval_options)
    : options_(std::move(options)), eval_options_(eval_options) {}

void SnapshotPolicyGate::SetSnapshot(Cluster cluster, std::string source) {
  agent::PolicySnapshotInfo info;
  info.loaded = true;
  info.source = std::move(source);
  info.namespaces = cluster.namespaces.size();
  info.pods = cluster.pods.size();
  info.policies = cluster.policies.size();
  // Indexed outside the lock: checks keep using the previous snapshot meanwhile.
  auto snap = std::make_shared<const Indexed>(std::move(cluster), eval_options_);
  info.loaded_at = absl::Now();
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snap);
  info_ = std::move(info);
}

agent::PolicySnapshotInfo SnapshotPolicyGate::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return info_;
}

bool SnapshotPolicyGate::has_snapshot() const {
  absl::MutexLock lock(&mu_);
  return snapshot_ != nullptr;
}

void SnapshotPolicyGate::EnrolledChanged() {
  auto list = std::make_shared<std::vector<std::shared_ptr<const Pod>>>();
  list->reserve(enrolled_.size());
  for (const auto& [key, p] : enrolled_) {
    list->push_back(p);
  }
  enrolled_list_ = std::move(list);
}

void SnapshotPolicyGate::SetEnrolled(const std::vector<agent::PodSpec>& pods) {
  std::map<std::string, std::shared_ptr<const Pod>> converted;
  for (const agent::PodSpec& p : pods) {
    absl::StatusOr<Pod> pod = PodFromSpec(p);
    if (pod.ok()) {
      converted[EnrolledKey(p)] = std::make_shared<const Pod>(*std::move(pod));
    } else {
      converted.erase(EnrolledKey(p));  // a later invalid entry replaces an earlier one
    }
  }
  absl::MutexLock lock(&mu_);
  enrolled_ = std::move(converted);
  EnrolledChanged();
}

void SnapshotPolicyGate::AddEnrolled(const agent::PodSpec& pod) {
  absl::StatusOr<Pod> p = PodFromSpec(pod);
  std::shared_ptr<const Pod> shared = p.ok() ? std::make_shared<const Pod>(*std::move(p)) : nullptr;
  absl::MutexLock lock(&mu_);
  if (shared != nullptr) {
    enrolled_[EnrolledKey(pod)] = std::move(shared);
  } else {
    enrolled_.erase(EnrolledKey(pod));  // replaced by a pod the analysis cannot use
  }
  EnrolledChanged();
}

void SnapshotPolicyGate::RemoveEnrolled(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  enrolled_.erase(uid);
  EnrolledChanged();
}

absl::StatusOr<std::vector<Finding>> SnapshotPolicyGate::Check(const agent::PodSpec& pod) const {
  return CheckPod(pod, {});
}

absl::StatusOr<std::vector<Finding>> SnapshotPolicyGate::CheckPod(
    const agent::PodSpec& pod, const std::vector<uint16_t>& extra_probe_ports) const {
  absl::StatusOr<Pod> subject = PodFromSpec(pod);
  if (!subject.ok()) {
    return subject.status();
  }
  for (uint16_t p : extra_probe_ports) {
    subject->probes.push_back({p, ""});
  }
  std::shared_ptr<const Indexed> snapshot;
  std::shared_ptr<const std::vector<std::shared_ptr<const Pod>>> enrolled_list;
  {
    absl::MutexLock lock(&mu_);
    snapshot = snapshot_;
    enrolled_list = enrolled_list_;
  }
  if (snapshot == nullptr) {
    return std::vector<Finding>{};
  }
  const Evaluator& base = snapshot->evaluator;
  // The pods this check adds to the snapshot: enrolled pods it lacks (the snapshot's own version
  // wins for the others), then the requested pod, as Cluster::UpsertPod would in that order.
  // Their indices in the view: the snapshot's, then base.pod_count() + i for added[i].
  std::vector<Pod> added;
  std::vector<int> enrolled_idx;
  auto add_enrolled = [&](const Pod& e) {
    if (e.ns == subject->ns && e.name == subject->name) {
      return;
    }
    if (std::optional<int> i = base.FindBasePod(e.ns, e.name)) {
      enrolled_idx.push_back(*i);
      return;
    }
    for (size_t i = 0; i < added.size(); ++i) {
      if (added[i].ns == e.ns && added[i].name == e.name) {
        enrolled_idx.push_back(base.pod_count() + static_cast<int>(i));
        return;
      }
    }
    enrolled_idx.push_back(base.pod_count() + static_cast<int>(added.size()));
    added.push_back(e);
  };
  if (enrolled_list != nullptr) {
    for (const std::shared_ptr<const Pod>& e : *enrolled_list) {
      add_enrolled(*e);
    }
  }
  InheritFromSnapshot(base, *subject);
  const std::string subject_ns = subject->ns;
  const std::string subject_name = subject->name;
  added.push_back(*std::move(subject));
  const Evaluator view = base.WithPods(std::move(added));
  const int idx = *view.FindPod(subject_ns, subject_name);
  Report report = Analyze(view, {idx}, enrolled_idx, options_, &snapshot->fix_yaml);
  return std::move(report.findings);
}

}  // namespace probesnat::policy
