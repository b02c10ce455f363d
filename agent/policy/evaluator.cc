#include "agent/policy/evaluator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace probesnat::policy {

namespace {

int Dir(Direction d) { return d == Direction::kIngress ? 0 : 1; }

}  // namespace

Evaluator::Evaluator(Cluster cluster, EvalOptions options)
    : cluster_(std::move(cluster)), options_(options) {
  cluster_.AddImplicitNamespaces();
  std::map<std::string, const Labels*, std::less<>> ns_labels;
  for (const Namespace& n : cluster_.namespaces) {
    ns_labels[n.name] = &n.labels;
  }
  const size_t n_pods = cluster_.pods.size();
  for (size_t i = 0; i < n_pods; ++i) {
    const Pod& pod = cluster_.pods[i];
    pod_by_key_[pod.Key()] = static_cast<int>(i);
    if (pod.terminated) {
      continue;
    }
    if (pod.host_network) {
      for (const Ip& ip : pod.ips) {
        node_by_ip_[ip] = pod.node_name;
      }
    } else {
      for (const Ip& ip : pod.ips) {
        pod_by_ip_[ip] = static_cast<int>(i);
      }
    }
    for (const Ip& ip : pod.host_ips) {
      node_by_ip_.emplace(ip, pod.node_name);
    }
  }
  pod_addr_.resize(n_pods);
  for (size_t i = 0; i < n_pods; ++i) {
    pod_addr_[i][0] = cluster_.pods[i].IpOfFamily(IpFamily::kV4);
    pod_addr_[i][1] = cluster_.pods[i].IpOfFamily(IpFamily::kV6);
  }
  selecting_[0].resize(n_pods);
  selecting_[1].resize(n_pods);
  compiled_.resize(cluster_.policies.size());
  for (size_t p = 0; p < cluster_.policies.size(); ++p) {
    const NetworkPolicy& np = cluster_.policies[p];
    for (size_t i = 0; i < n_pods; ++i) {
      const Pod& pod = cluster_.pods[i];
      if (pod.host_network || pod.ns != np.ns || !np.pod_selector.Matches(pod.labels)) {
        continue;
      }
      if (np.affects_ingress) {
        selecting_[0][i].push_back(static_cast<int>(p));
      }
      if (np.affects_egress) {
        selecting_[1][i].push_back(static_cast<int>(p));
      }
    }
    for (Direction d : {Direction::kIngress, Direction::kEgress}) {
      for (const Rule& rule : np.Rules(d)) {
        CompiledRule cr;
        for (const Peer& peer : rule.peers) {
          std::vector<char> bits;
          if (!peer.ip_block) {
            bits.assign(n_pods, 0);
            for (size_t i = 0; i < n_pods; ++i) {
              const Pod& pod = cluster_.pods[i];
              if (pod.host_network) {
                continue;
              }
              bool ns_ok = peer.namespace_selector
                               ? peer.namespace_selector->Matches(*ns_labels.at(pod.ns))
                               : pod.ns == np.ns;
              bool pod_ok = !peer.pod_selector || peer.pod_selector->Matches(pod.labels);
              bits[i] = (ns_ok && pod_ok) ? 1 : 0;
            }
          }
          cr.peer_pods.push_back(std::move(bits));
        }
        compiled_[p].rules[Dir(d)].push_back(std::move(cr));
      }
    }
  }
}

std::optional<int> Evaluator::FindPod(absl::string_view ns, absl::string_view name) const {
  auto it = pod_by_key_.find(absl::StrCat(ns, "/", name));
  if (it == pod_by_key_.end()) {
    return std::nullopt;
  }
  return it->second;
}

Endpoint Evaluator::PodEndpoint(int pod) const {
  Endpoint e;
  e.pod = pod;
  e.label = cluster_.pods[pod].Key();
  if (cluster_.pods[pod].host_network) {
    e.node = cluster_.pods[pod].node_name;
  }
  return e;
}

absl::StatusOr<Endpoint> Evaluator::Resolve(absl::string_view ref) const {
  if (absl::StatusOr<Ip> ip = Ip::Parse(ref); ip.ok()) {
    Endpoint e;
    e.ip = *ip;
    e.label = std::string(ref);
    if (auto it = pod_by_ip_.find(*ip); it != pod_by_ip_.end()) {
      e.pod = it->second;
    } else if (auto nit = node_by_ip_.find(*ip); nit != node_by_ip_.end()) {
      e.node = nit->second.empty() ? "<node>" : nit->second;
    }
    return e;
  }
  if (Cidr::Parse(ref).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", ref, "\" is a CIDR; an endpoint is one IP address or \"namespace/pod\""));
  }
  size_t slash = ref.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == ref.size() ||
      ref.find('/', slash + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", ref, "\" is neither \"namespace/pod\" nor an IP address"));
  }
  std::optional<int> pod = FindPod(ref.substr(0, slash), ref.substr(slash + 1));
  if (!pod) {
    return absl::NotFoundError(absl::StrCat("no pod \"", ref, "\" in the cluster"));
  }
  return PodEndpoint(*pod);
}

bool Evaluator::IsPolicySubject(const Endpoint& e) const {
  return e.pod >= 0 && !cluster_.pods[e.pod].host_network;
}

const std::vector<int>& Evaluator::PoliciesSelecting(int pod, Direction d) const {
  return selecting_[Dir(d)][pod];
}

std::optional<Ip> Evaluator::AddressOf(const Endpoint& e, IpFamily family) const {
  if (e.ip) {
    if (e.ip->family() == family) {
      return e.ip;
    }
    return std::nullopt;
  }
  if (e.pod >= 0) {
    return pod_addr_[e.pod][family == IpFamily::kV4 ? 0 : 1];
  }
  return std::nullopt;
}

IpFamily Evaluator::ChooseFamily(const Endpoint& from, const Endpoint& to) const {
  if (from.ip) {
    return from.ip->family();
  }
  if (to.ip) {
    return to.ip->family();
  }
  auto viable = [&](const Endpoint& e, IpFamily f) {
    if (e.pod < 0) {
      return true;
    }
    const auto& a = pod_addr_[e.pod];
    return (!a[0] && !a[1]) || a[f == IpFamily::kV4 ? 0 : 1].has_value();
  };
  if (viable(from, IpFamily::kV4) && viable(to, IpFamily::kV4)) {
    return IpFamily::kV4;
  }
  if (viable(from, IpFamily::kV6) && viable(to, IpFamily::kV6)) {
    return IpFamily::kV6;
  }
  return IpFamily::kV4;
}

bool Evaluator::PortsMatch(const std::vector<PortSpec>& ports, const Pod* dest, int port,
                           Protocol protocol) {
  if (ports.empty()) {
    return true;
  }
  for (const PortSpec& ps : ports) {
    if (ps.protocol != protocol) {
      continue;
    }
    if (!ps.has_port) {
      return true;
    }
    if (!ps.named.empty()) {
      if (dest == nullptr) {
        continue;
      }
      for (const ContainerPort& cp : dest->ports) {
        if (cp.name == ps.named && cp.protocol == protocol && cp.port == port) {
          return true;
        }
      }
      continue;
    }
    if (port >= ps.number && port <= ps.end_port.value_or(ps.number)) {
      return true;
    }
  }
  return false;
}

bool Evaluator::RulePeerMatches(int policy, Direction d, int rule, const Endpoint& other,
                                IpFamily family) const {
  const Rule& r = cluster_.policies[policy].Rules(d)[rule];
  if (r.peers.empty()) {
    return true;
  }
  const CompiledRule& cr = compiled_[policy].rules[Dir(d)][rule];
  for (size_t i = 0; i < r.peers.size(); ++i) {
    const Peer& peer = r.peers[i];
    if (peer.ip_block) {
      std::optional<Ip> addr = AddressOf(other, family);
      if (addr && peer.ip_block->Matches(*addr)) {
        return true;
      }
      continue;
    }
    if (IsPolicySubject(other) && cr.peer_pods[i][other.pod]) {
      return true;
    }
  }
  return false;
}

bool Evaluator::RuleAllows(int policy, Direction d, int rule, const Endpoint& other, int dest_pod,
                           int port, Protocol protocol, IpFamily family) const {
  const Rule& r = cluster_.policies[policy].Rules(d)[rule];
  const Pod* dest = dest_pod >= 0 ? &cluster_.pods[dest_pod] : nullptr;
  // The peer test is a bit lookup for selector peers; named ports compare strings.
  return RulePeerMatches(policy, d, rule, other, family) &&
         PortsMatch(r.ports, dest, port, protocol);
}

std::string Evaluator::NodeOf(const Endpoint& e) const {
  if (e.pod >= 0 && cluster_.pods[e.pod].host_network) {
    return cluster_.pods[e.pod].node_name;
  }
  return e.node;
}

bool Evaluator::OwnNode(const Pod& pod, const Endpoint& other) const {
  if (!options_.own_node_always_allowed) {
    return false;
  }
  std::string node = NodeOf(other);
  if (!node.empty() && node == pod.node_name) {
    return true;
  }
  if (other.ip && !IsPolicySubject(other)) {
    return std::find(pod.host_ips.begin(), pod.host_ips.end(), *other.ip) != pod.host_ips.end();
  }
  return false;
}

bool Evaluator::Allowed(int pod, Direction d, const Endpoint& other, int port, Protocol protocol,
                        IpFamily family) const {
  const std::vector<int>& policies = PoliciesSelecting(pod, d);
  if (policies.empty()) {
    return true;
  }
  int dest_pod = d == Direction::kIngress ? pod : (IsPolicySubject(other) ? other.pod : -1);
  for (int pol : policies) {
    const size_t n = cluster_.policies[pol].Rules(d).size();
    for (size_t r = 0; r < n; ++r) {
      if (RuleAllows(pol, d, static_cast<int>(r), other, dest_pod, port, protocol, family)) {
        return true;
      }
    }
  }
  return OwnNode(cluster_.pods[pod], other);
}

DirectionVerdict Evaluator::DirectionAllows(int pod, Direction d, const Endpoint& other, int port,
                                            Protocol protocol, IpFamily family) const {
  DirectionVerdict v;
  v.applies = true;
  const Pod& p = cluster_.pods[pod];
  const absl::string_view dir = DirectionName(d);
  v.policies = PoliciesSelecting(pod, d);
  if (v.policies.empty()) {
    v.reason = absl::StrCat("no NetworkPolicy with policyType ",
                            d == Direction::kIngress ? "Ingress" : "Egress", " selects ", p.Key(),
                            ": not isolated for ", dir);
    return v;
  }
  v.isolated = true;
  int dest_pod = d == Direction::kIngress ? pod : (IsPolicySubject(other) ? other.pod : -1);
  for (int pol : v.policies) {
    const size_t n = cluster_.policies[pol].Rules(d).size();
    for (size_t r = 0; r < n; ++r) {
      if (RuleAllows(pol, d, static_cast<int>(r), other, dest_pod, port, protocol, family)) {
        v.allowed_by.push_back({pol, static_cast<int>(r)});
      }
    }
  }
  v.allowed = !v.allowed_by.empty();
  if (v.allowed) {
    v.reason = absl::StrCat(p.Key(), " is isolated for ", dir, " and ", v.allowed_by.size(),
                            " rule(s) allow this connection");
  } else if (OwnNode(p, other)) {
    v.allowed = true;
    v.reason = absl::StrCat(p.Key(), " is isolated for ", dir,
                            " but traffic with its own node is always allowed");
  } else {
    v.reason = absl::StrCat(p.Key(), " is isolated for ", dir, " by ", v.policies.size(),
                            " policy(ies) and no rule allows this connection");
  }
  return v;
}

Verdict Evaluator::Evaluate(const Endpoint& from, const Endpoint& to, int port,
                            Protocol protocol) const {
  Verdict v;
  v.family = ChooseFamily(from, to);
  if (from.pod >= 0 && from.pod == to.pod && IsPolicySubject(from)) {
    v.allowed = true;
    v.egress.applies = v.ingress.applies = true;
    v.reason = "a pod can always reach itself: NetworkPolicy does not block a pod's own traffic";
    v.egress.reason = v.ingress.reason = v.reason;
    return v;
  }
  auto not_subject = [&](const Endpoint& e, absl::string_view dir) {
    DirectionVerdict d;
    if (e.pod >= 0) {
      d.reason = absl::StrCat(cluster_.pods[e.pod].Key(),
                              " uses the host network: NetworkPolicies do not select it (its "
                              "traffic is node traffic), so no ",
                              dir, " policy applies");
    } else if (!e.node.empty()) {
      d.reason = absl::StrCat(e.label, " is a node address: no ", dir, " policy applies to it");
    } else {
      d.reason =
          absl::StrCat(e.label, " is not a pod in the cluster: no ", dir, " policy applies to it");
    }
    return d;
  };
  v.egress = IsPolicySubject(from)
                 ? DirectionAllows(from.pod, Direction::kEgress, to, port, protocol, v.family)
                 : not_subject(from, "egress");
  v.ingress = IsPolicySubject(to)
                  ? DirectionAllows(to.pod, Direction::kIngress, from, port, protocol, v.family)
                  : not_subject(to, "ingress");
  v.allowed = v.egress.allowed && v.ingress.allowed;
  if (v.allowed) {
    v.reason = "allowed by the source's egress and the destination's ingress";
  } else if (!v.egress.allowed && !v.ingress.allowed) {
    v.reason = "denied by the source's egress and by the destination's ingress";
  } else if (!v.egress.allowed) {
    v.reason = "denied by the source's egress";
  } else {
    v.reason = "denied by the destination's ingress";
  }
  return v;
}

}  // namespace probesnat::policy
