#pragma once

#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "agent/domain/finding.h"
#include "agent/domain/pod_spec.h"
#include "agent/policy/label_selector.h"
#include "base/cidr.h"

namespace probesnat::policy {

// Shared with the rest of the agent (agent/domain).
using agent::Direction;
using agent::DirectionName;
using agent::ParseProtocol;
using agent::Protocol;
using agent::ProtocolName;

inline constexpr absl::string_view kNamespaceNameLabel = "kubernetes.io/metadata.name";

struct Namespace {
  std::string name;
  Labels labels;  // always holds kubernetes.io/metadata.name = name
};

struct ContainerPort {
  std::string name;  // may be empty
  int port = 0;
  Protocol protocol = Protocol::kTCP;
};

// A port a kubelet probe targets (httpGet/tcpSocket/grpc), by number or by container port name.
struct ProbeTarget {
  int number = 0;
  std::string name;
};

struct Pod {
  std::string ns;
  std::string name;
  std::string uid;
  Labels labels;
  std::vector<IpAddress> ips;  // status.podIPs (or status.podIP); may be empty
  std::vector<ContainerPort> ports;
  bool host_network = false;
  bool terminated = false;  // phase Succeeded/Failed: its IPs no longer identify it
  std::string node_name;
  std::vector<IpAddress> host_ips;
  std::vector<ProbeTarget> probes;

  std::string Key() const { return ns + "/" + name; }
  std::optional<IpAddress> IpOfFamily(IpFamily f) const;
  bool HasFamily(IpFamily f) const { return IpOfFamily(f).has_value(); }
  // Probe ports as numbers (named ones resolved on this pod's TCP container ports), sorted, unique.
  std::vector<int> ProbePorts() const;
};

// One entry of a rule's `ports`.
struct PortSpec {
  Protocol protocol = Protocol::kTCP;
  bool protocol_explicit = false;  // kept as written for the corrected YAML
  bool has_port = false;           // no port: every port of the protocol
  int number = 0;                  // when named is empty
  std::string named;               // a container port name, resolved on the destination pod
  std::optional<int> end_port;     // inclusive, only with a numeric port
};

struct IpBlock {
  Cidr cidr;
  std::vector<Cidr> except;
  bool Matches(const IpAddress& ip) const;
};

// A NetworkPolicyPeer: either selectors (AND of the two when both are set) or an ipBlock.
struct Peer {
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  std::optional<IpBlock> ip_block;
};

// An ingress or egress rule. Empty `peers` = every source/destination; empty `ports` = every port.
struct Rule {
  std::vector<Peer> peers;
  std::vector<PortSpec> ports;
};

struct NetworkPolicy {
  std::string ns;
  std::string name;
  Labels labels;
  Labels annotations;  // as written (a corrected policy keeps them, e.g. Helm's ownership)
  LabelSelector pod_selector;
  std::vector<Rule> ingress;
  std::vector<Rule> egress;
  bool affects_ingress = true;
  bool affects_egress = false;
  bool policy_types_explicit = false;  // spec.policyTypes was written (kept for the corrected YAML)

  std::string Key() const { return ns + "/" + name; }
  const std::vector<Rule>& Rules(Direction d) const {
    return d == Direction::kIngress ? ingress : egress;
  }
  bool Affects(Direction d) const {
    return d == Direction::kIngress ? affects_ingress : affects_egress;
  }
};

struct Cluster {
  std::vector<Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<NetworkPolicy> policies;

  // Adds the pod, replacing one with the same namespace/name. Adds its namespace when unknown.
  void UpsertPod(Pod pod);
  // Adds the policy, replacing one with the same namespace/name.
  void UpsertPolicy(NetworkPolicy policy);
  // Makes sure every namespace a pod or policy lives in exists (with the implicit label only).
  void AddImplicitNamespaces();
};

}  // namespace probesnat::policy
