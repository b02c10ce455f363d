#pragma once

#include <array>
#include <map>
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
  int pod = -1;          // -1: not a known pod
  std::optional<Ip> ip;  // the address given in the query (pods: chosen per family when unset)
  std::string node;      // the node, when the endpoint is node traffic (IP of a node)
  std::string label;     // as the user wrote it: "ns/pod" or an IP
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
// construction; evaluation is read-only and thread-safe.
class Evaluator {
 public:
  explicit Evaluator(Cluster cluster, EvalOptions options = {});

  const Cluster& cluster() const { return cluster_; }
  std::optional<int> FindPod(absl::string_view ns, absl::string_view name) const;

  // "ns/pod" or an IP address. A known pod IP resolves to that pod; a node IP (a pod's hostIP or a
  // hostNetwork pod's IP) is node traffic; any other IP is an external endpoint.
  absl::StatusOr<Endpoint> Resolve(absl::string_view ref) const;
  Endpoint PodEndpoint(int pod) const;

  Verdict Evaluate(const Endpoint& from, const Endpoint& to, int port, Protocol protocol) const;

  // Building blocks for the compatibility analysis.
  bool IsPolicySubject(const Endpoint& e) const;
  const std::vector<int>& PoliciesSelecting(int pod, Direction d) const;
  IpFamily ChooseFamily(const Endpoint& from, const Endpoint& to) const;
  std::optional<Ip> AddressOf(const Endpoint& e, IpFamily family) const;
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
  struct CompiledRule {
    std::vector<std::vector<char>> peer_pods;  // per peer with selectors: pod index -> selected
  };
  struct CompiledPolicy {
    std::vector<CompiledRule> rules[2];
  };
  bool OwnNode(const Pod& pod, const Endpoint& other) const;
  std::string NodeOf(const Endpoint& e) const;

  Cluster cluster_;
  EvalOptions options_;
  std::map<std::string, int, std::less<>> pod_by_key_;
  std::map<Ip, int> pod_by_ip_;
  std::map<Ip, std::string> node_by_ip_;
  std::vector<std::vector<int>> selecting_[2];  // per direction, per pod: policy indices
  std::vector<CompiledPolicy> compiled_;
  // Per pod: its address of each family (index 0 IPv4, 1 IPv6), cached for the hot paths.
  std::vector<std::array<std::optional<Ip>, 2>> pod_addr_;
};

}  // namespace probesnat::policy
