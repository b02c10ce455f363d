#pragma once

#include <string>

#include "absl/time/time.h"
#include "agent/daemon/kubernetes_api.h"

namespace probesnat::daemon {

// Whether the agent's own DaemonSet is gone or being deleted, asked of the Kubernetes API (GET of
// that one object; RBAC: get on daemonsets, resourceNames [it]). Armed at start, when the object is
// seen (its uid remembered): a name that was never seen (a typo, RBAC missing, API down at start)
// never says "gone", so a misconfiguration cannot turn every rolling update into an uninstall.
class DaemonSetObserver {
 public:
  enum class State {
    kPresent,   // there, not being deleted: a restart or an upgrade
    kDeleting,  // metadata.deletionTimestamp is set
    kGone,      // 404, or an object of another uid (deleted and created again)
    kUnknown,   // not armed, API unreachable, or an answer that says neither
  };
  struct Observation {
    State state = State::kUnknown;
    std::string detail;  // for the log: what was asked and what came back
  };

  DaemonSetObserver(KubernetesApi api, std::string ns, std::string name, absl::Duration timeout);

  // At start. Present and armed, or why not (then Observe says kUnknown).
  Observation Arm();
  // At stop.
  Observation Observe();

  std::string object() const { return ns_ + "/" + name_; }  // namespace/name

 private:
  Observation Get();

  const KubernetesApi api_;
  const std::string ns_, name_;
  const absl::Duration timeout_;
  std::string uid_;  // set by a successful Arm
};

}  // namespace probesnat::daemon
