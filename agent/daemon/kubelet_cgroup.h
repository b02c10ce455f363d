#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "netfilter/rules_spec.h"

namespace probesnat::daemon {

// --probe-origin: which local sockets get the probe address (README "What the agent does").
enum class ProbeOriginMode {
  kAuto,      // cgroup when a kubelet cgroup is found at start, else any-local with a warning
  kAnyLocal,  // every process in the node's network namespace
  kCgroup,    // only the kubelet's cgroup (v2)
};

const char* ProbeOriginModeName(ProbeOriginMode mode);

// The kubelet's cgroup v2 path (relative to the root, no leading '/'): the cgroup of the first
// process under `proc_root` named kubelet, kubelite (microk8s), k3s-server or k3s-agent (k3s runs
// the kubelet in its own process; k0s runs a process named kubelet), else the first of the known
// systemd units that exists under `cgroup_root`. A process in the root cgroup, or in one outside
// the agent's cgroup namespace ("/.."), does not count. NOT_FOUND when nothing fits.
absl::StatusOr<std::string> DetectKubeletCgroup(const std::string& proc_root,
                                                const std::string& cgroup_root);

// Decides and follows the probe origin. Start() once, then Recheck() from the periodic check.
class ProbeOriginTracker {
 public:
  struct Options {
    ProbeOriginMode mode = ProbeOriginMode::kAuto;
    std::string kubelet_cgroup;  // empty: detect
    std::string cgroup_root;     // empty: FindCgroup2Root("/proc/self/mountinfo")
    std::string proc_root = "/proc";
  };
  explicit ProbeOriginTracker(Options options) : options_(std::move(options)) {}

  // The host rules to start with: `base` with the decided origin and, in cgroup mode, the
  // resolved cgroup (id 0, matching nothing, when it cannot be resolved: the log says so).
  netfilter::HostRules Start(const netfilter::HostRules& base);
  // Re-detects (when not configured) and re-resolves the cgroup: the new rules when they differ
  // from `current` (a cgroup re-created has a new id; a kubelet moved has a new path). Never
  // changes the origin mode.
  std::optional<netfilter::HostRules> Recheck(const netfilter::HostRules& current);

  // One line for the log and /readyz: the mode, the cgroup and its id, or the any-local warning.
  std::string Describe() const;
  bool warning() const;

 private:
  absl::StatusOr<netfilter::KubeletCgroup> Find();

  void Say(std::string description, bool warning);

  Options options_;
  netfilter::ProbeOrigin origin_ = netfilter::ProbeOrigin::kAnyLocal;
  mutable std::mutex mu_;
  std::string description_;  // guarded by mu_
  bool warning_ = false;     // guarded by mu_
};

}  // namespace probesnat::daemon
