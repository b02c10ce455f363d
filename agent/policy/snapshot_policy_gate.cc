#include "agent/policy/snapshot_policy_gate.h"

#include "agent/policy/proto_convert.h"

namespace probesnat::policy {

namespace {

// Puts `pod` into `cluster`, keeping what only the snapshot knows (node, host IPs, named ports,
// manifest probes). Returns its index.
int Merge(Cluster& cluster, Pod pod) {
  const std::string ns = pod.ns;
  const std::string name = pod.name;
  for (const Pod& old : cluster.pods) {
    if (old.ns != pod.ns || old.name != pod.name) {
      continue;
    }
    if (pod.ports.empty()) {
      pod.ports = old.ports;
    }
    if (pod.ips.empty()) {
      pod.ips = old.ips;
    }
    pod.node_name = old.node_name;
    pod.host_ips = old.host_ips;
    pod.probes.insert(pod.probes.end(), old.probes.begin(), old.probes.end());
    break;
  }
  cluster.UpsertPod(std::move(pod));
  for (size_t i = 0; i < cluster.pods.size(); ++i) {
    if (cluster.pods[i].ns == ns && cluster.pods[i].name == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace

SnapshotPolicyGate::SnapshotPolicyGate(AnalysisOptions options, EvalOptions eval_options)
    : options_(std::move(options)), eval_options_(eval_options) {}

void SnapshotPolicyGate::SetSnapshot(Cluster cluster) {
  auto snap = std::make_shared<const Cluster>(std::move(cluster));
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snap);
}

bool SnapshotPolicyGate::has_snapshot() const {
  absl::MutexLock lock(&mu_);
  return snapshot_ != nullptr;
}

void SnapshotPolicyGate::SetEnrolled(const std::vector<v1::Pod>& pods) {
  absl::MutexLock lock(&mu_);
  enrolled_.clear();
  for (const v1::Pod& p : pods) {
    enrolled_[p.uid().empty() ? p.namespace_() + "/" + p.name() : p.uid()] = p;
  }
}

void SnapshotPolicyGate::AddEnrolled(const v1::Pod& pod) {
  absl::MutexLock lock(&mu_);
  enrolled_[pod.uid().empty() ? pod.namespace_() + "/" + pod.name() : pod.uid()] = pod;
}

void SnapshotPolicyGate::RemoveEnrolled(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  enrolled_.erase(uid);
}

void SnapshotPolicyGate::SetEnrolledSource(std::function<std::vector<v1::Pod>()> source) {
  absl::MutexLock lock(&mu_);
  enrolled_source_ = std::move(source);
}

std::vector<v1::Finding> SnapshotPolicyGate::Check(const v1::Pod& pod) const {
  absl::StatusOr<std::vector<v1::Finding>> r = CheckPod(pod, {});
  if (!r.ok()) {
    return {};  // the daemon validates pods before it asks
  }
  return *std::move(r);
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
  std::shared_ptr<const Cluster> snapshot;
  std::vector<v1::Pod> enrolled;
  std::function<std::vector<v1::Pod>()> source;
  {
    absl::MutexLock lock(&mu_);
    snapshot = snapshot_;
    for (const auto& [uid, p] : enrolled_) {
      enrolled.push_back(p);
    }
    source = enrolled_source_;
  }
  if (snapshot == nullptr) {
    return std::vector<v1::Finding>{};
  }
  if (source) {
    std::vector<v1::Pod> more = source();  // outside the lock: it may take the caller's locks
    enrolled.insert(enrolled.end(), more.begin(), more.end());
  }
  Cluster cluster = *snapshot;
  std::vector<std::string> enrolled_keys;
  for (const v1::Pod& p : enrolled) {
    absl::StatusOr<Pod> e = PodFromProto(p);
    if (!e.ok()) {
      continue;
    }
    if (e->ns == subject->ns && e->name == subject->name) {
      continue;
    }
    enrolled_keys.push_back(e->Key());
    bool known = false;
    for (const Pod& c : cluster.pods) {
      known = known || (c.ns == e->ns && c.name == e->name);
    }
    if (!known) {
      cluster.UpsertPod(*std::move(e));
    }
  }
  std::string subject_key = subject->Key();
  Merge(cluster, *std::move(subject));
  Evaluator ev(std::move(cluster), eval_options_);
  std::vector<int> enrolled_idx;
  for (const std::string& key : enrolled_keys) {
    size_t slash = key.find('/');
    if (std::optional<int> i = ev.FindPod(key.substr(0, slash), key.substr(slash + 1))) {
      enrolled_idx.push_back(*i);
    }
  }
  size_t slash = subject_key.find('/');
  int idx = *ev.FindPod(subject_key.substr(0, slash), subject_key.substr(slash + 1));
  Report report = Analyze(ev, {idx}, enrolled_idx, options_);
  std::vector<v1::Finding> out;
  for (const Finding& f : report.findings) {
    out.push_back(FindingToProto(f));
  }
  return out;
}

}  // namespace probesnat::policy
