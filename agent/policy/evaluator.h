#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "agent/policy/model.h"

namespace probesnat::policy {

struct EvalOptions {
  // Upstream: "traffic to and from the node where a Pod is running is always allowed". Applies when
  // the other end is provably that node: a hostNetwork pod on the same nodeName, or one of the
  // pod's status.hostIPs.
  bool own_node_always_allowed = true;
};

// One end of a connection: a pod (by index into Cluster::pods) or a bare IP address.
struct Endpoint {
  int pod = -1;  // -1: not a known pod
  std::optional<IpAddress>
      ip;             // the address given in the query (pods: chosen per family when unset)
  std::string node;   // the node, when the endpoint is node traffic (IP of a node)
  std::string label;  // as the user wrote it: "ns/pod" or an IP
};

// A policy (index into Cluster::policies) and one of its rules (-1: the policy only isolates).
struct RuleRef {
  int policy = -1;
  int rule = -1;
};

struct DirectionVerdict {
  bool applies = false;   // the endpoint is a pod that NetworkPolicies can select
  bool isolated = false;  // some policy with this policyType selects it
  bool allowed = true;
  std::vector<int> policies;        // the isolating policies
  std::vector<RuleRef> allowed_by;  // the rules that allow the connection
  std::string reason;
};

struct Verdict {
  bool allowed = false;
  IpFamily family = IpFamily::kV4;
  DirectionVerdict egress;   // the source's egress policies
  DirectionVerdict ingress;  // the destination's ingress policies
  std::string reason;
};

// Upstream NetworkPolicy semantics over one snapshot. Selector matches are computed once at
// construction into an immutable index; evaluation is read-only and thread-safe.
//
// WithPods() gives a view of the same snapshot with a few pods added or replaced (the pod being
// enrolled, enrolled pods the snapshot lacks): the index is shared, not copied, and only those
// pods' own selector matches (the policies selecting them, the peer selectors matching them) are
// computed. A view answers exactly as an Evaluator built from the snapshot with those pods
// upserted (Cluster::UpsertPod, in order) would, with the same pod indices.
class Evaluator {
 public:
  explicit Evaluator(Cluster cluster, EvalOptions options = {});

  // Each pod replaces the snapshot's pod of the same namespace/name (keeping its index) or is
  // appended (indices pod_count(), pod_count() + 1, ... of this evaluator, in order). Pods with the
  // same namespace/name as an earlier one in `pods` replace it. Only valid on a snapshot
  // evaluator (not on a view).
  Evaluator WithPods(std::vector<Pod> pods) const;

  // The snapshot as indexed. For a view: without its added/replaced pods; use pod()/pod_count().
  const Cluster& cluster() const;
  int pod_count() const { return n_base_ + static_cast<int>(appended_.size()); }
  const Pod& pod(int i) const;
  std::optional<int> FindPod(absl::string_view ns, absl::string_view name) const;
  // The snapshot's pod of that namespace/name (a view's added pods are not searched).
  std::optional<int> FindBasePod(absl::string_view ns, absl::string_view name) const;
  // Pods (ascending indices) that `policy`'s podSelector selects (its namespace, not hostNetwork).
  std::vector<int> PodsSelectedBy(int policy) const;
  // The same, appended to `out` (not sorted with what `out` held).
  void AppendPodsSelectedBy(int policy, std::vector<int>* out) const;
  // Policies (ascending) having direction `d` with a rule whose peers match `pod` for one of its
  // address families (or a rule without peers).
  std::vector<int> PoliciesWithRuleMatching(int pod, Direction d) const;

  // "ns/pod" or an IP address. A known pod IP resolves to that pod; a node IP (a pod's hostIP or a
  // hostNetwork pod's IP) is node traffic; any other IP is an external endpoint.
  absl::StatusOr<Endpoint> Resolve(absl::string_view ref) const;
  Endpoint PodEndpoint(int pod) const;

  Verdict Evaluate(const Endpoint& from, const Endpoint& to, int port, Protocol protocol) const;

  // Building blocks for the compatibility analysis.
  bool IsPolicySubject(const Endpoint& e) const;
  const std::vector<int>& PoliciesSelecting(int pod, Direction d) const;
  IpFamily ChooseFamily(const Endpoint& from, const Endpoint& to) const;
  std::optional<IpAddress> AddressOf(const Endpoint& e, IpFamily family) const;
  // Does rule `rule` of `policy` (direction `d`) allow `other` on port/protocol? `dest_pod`
  // resolves named ports (-1: unresolvable).
  bool RuleAllows(int policy, Direction d, int rule, const Endpoint& other, int dest_pod, int port,
                  Protocol protocol, IpFamily family) const;
  bool RulePeerMatches(int policy, Direction d, int rule, const Endpoint& other,
                       IpFamily family) const;
  // Whether `pod`'s policies of direction `d` allow the connection with `other`.
  DirectionVerdict DirectionAllows(int pod, Direction d, const Endpoint& other, int port,
                                   Protocol protocol, IpFamily family) const;
  // The same decision without the explanation (hot path of the analysis).
  bool Allowed(int pod, Direction d, const Endpoint& other, int port, Protocol protocol,
               IpFamily family) const;
  static bool PortsMatch(const std::vector<PortSpec>& ports, const Pod* dest, int port,
                         Protocol protocol);

 private:
  struct Index;  // the immutable per-snapshot part, shared by views
  // A pod of a view (added or replacing a snapshot pod) with its own selector matches.
  struct ExtraPod {
    int index = -1;
    Pod pod;
    bool base_matches = false;  // same labels/hostNetwork as the snapshot pod it replaces
    std::vector<int> selecting[2];
    std::vector<int> selected_by;  // policies whose podSelector selects it (any direction)
    std::vector<char> peer_match;  // by selector peer id
    std::array<std::optional<IpAddress>, 2> addr;
  };
  Evaluator() = default;
  const ExtraPod* Extra(int pod) const {
    if (pod >= n_base_) {
      return &appended_[pod - n_base_];
    }
    for (const ExtraPod& e : replaced_) {
      if (e.index == pod) {
        return &e;
      }
    }
    return nullptr;
  }
  void ComputeMatches(ExtraPod& e) const;
  bool PeerSelects(int peer_id, const std::vector<char>& base_bits, int pod) const;
  const std::array<std::optional<IpAddress>, 2>& Addr(int pod) const;
  bool OwnNode(const Pod& pod, const Endpoint& other) const;
  std::string NodeOf(const Endpoint& e) const;

  std::shared_ptr<const Index> index_;
  int n_base_ = 0;
  std::vector<ExtraPod> replaced_;  // replacing snapshot pods (usually none or one)
  std::vector<ExtraPod> appended_;  // indices n_base_ + i
};

}  // namespace probesnat::policy
