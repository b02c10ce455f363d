#include "agent/policy/snapshot_policy_gate.h"

#include "agent/policy/proto_convert.h"

namespace probesnat::policy {

namespace {

std::string EnrolledKey(const v1::Pod& p) {
  return p.uid().empty() ? p.namespace_() + "/" + p.name() : p.uid();
}

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

void SnapshotPolicyGate::SetSnapshot(Cluster cluster) {
  // Indexed outside the lock: checks keep using the previous snapshot meanwhile.
  auto snap = std::make_shared<const Indexed>(std::move(cluster), eval_options_);
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snap);
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

void SnapshotPolicyGate::SetEnrolled(const std::vector<v1::Pod>& pods) {
  std::map<std::string, std::shared_ptr<const Pod>> converted;
  for (const v1::Pod& p : pods) {
    absl::StatusOr<Pod> pod = PodFromProto(p);
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

void SnapshotPolicyGate::AddEnrolled(const v1::Pod& pod) {
  absl::StatusOr<Pod> p = PodFromProto(pod);
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

absl::StatusOr<std::vector<v1::Finding>> SnapshotPolicyGate::Check(const v1::Pod& pod) const {
  return CheckPod(pod, {});
}

absl::StatusOr<std::vector<v1::Finding>> SnapshotPolicyGate::CheckPod(
    const v1::Pod& pod, const std::vector<uint32_t>& extra_probe_ports) const {
  absl::StatusOr<Pod> subject = PodFromProto(pod);
  if (!subject.ok()) {
    return subject.status();
  }
  for (uint32_t p : extra_probe_ports) {
    if (p < 1 || p > 65535) {
      return absl::InvalidArgumentError("probe_ports: outside 1-65535");
    }
    subject->probes.push_back({static_cast<int>(p), ""});
  }
  std::shared_ptr<const Indexed> snapshot;
  std::shared_ptr<const std::vector<std::shared_ptr<const Pod>>> enrolled_list;
  {
    absl::MutexLock lock(&mu_);
    snapshot = snapshot_;
    enrolled_list = enrolled_list_;
  }
  if (snapshot == nullptr) {
    return std::vector<v1::Finding>{};
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
  std::vector<v1::Finding> out;
  out.reserve(report.findings.size());
  for (Finding& f : report.findings) {
    out.push_back(FindingToProto(std::move(f)));
  }
  return out;
}

}  // namespace probesnat::policy
