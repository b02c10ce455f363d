#include "agent/policy/evaluator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace probesnat::policy {

namespace {

int Dir(Direction d) { return d == Direction::kIngress ? 0 : 1; }

}  // namespace

// The immutable part of an evaluator: the snapshot and its selector index.
struct Evaluator::Index {
  struct CompiledRule {
    std::vector<std::vector<char>> peer_pods;  // per peer with selectors: pod index -> selected
    std::vector<int> peer_ids;                 // per peer: its selector peer id (-1: ipBlock)
  };
  struct CompiledPolicy {
    std::vector<CompiledRule> rules[2];
  };
  struct SelectorPeer {
    int policy = -1;
    const Peer* peer = nullptr;
  };

  Cluster cluster;
  EvalOptions options;
  // namespace -> name -> pod index
  std::map<std::string, std::map<std::string, int, std::less<>>, std::less<>> pod_by_key;
  std::map<IpAddress, int> pod_by_ip;
  std::map<IpAddress, std::string> node_by_ip;
  std::vector<std::vector<int>> selecting[2];  // per direction, per pod: policy indices
  std::vector<CompiledPolicy> compiled;
  // Per pod: its address of each family (index 0 IPv4, 1 IPv6), cached for the hot paths.
  std::vector<std::array<std::optional<IpAddress>, 2>> pod_addr;
  // For pods added later (views): every peer with selectors, by id; per namespace, the ids of
  // the peers whose namespace part holds there; per namespace, its policies; per policy, the pods
  // its podSelector selects.
  std::vector<SelectorPeer> selector_peers;
  std::map<std::string, std::vector<int>, std::less<>> peers_by_ns;
  std::map<std::string, std::vector<int>, std::less<>> policies_by_ns;
  std::vector<std::vector<int>> selected_by_policy;
};

Evaluator::Evaluator(Cluster cluster, EvalOptions options) {
  auto index = std::make_shared<Index>();
  Index& x = *index;
  x.cluster = std::move(cluster);
  x.options = options;
  Cluster& c = x.cluster;
  c.AddImplicitNamespaces();
  std::map<std::string, const Labels*, std::less<>> ns_labels;
  for (const Namespace& n : c.namespaces) {
    ns_labels[n.name] = &n.labels;
    x.peers_by_ns[n.name];
    x.policies_by_ns[n.name];
  }
  const size_t n_pods = c.pods.size();
  for (size_t i = 0; i < n_pods; ++i) {
    const Pod& pod = c.pods[i];
    x.pod_by_key[pod.ns][pod.name] = static_cast<int>(i);
    if (pod.terminated) {
      continue;
    }
    if (pod.host_network) {
      for (const IpAddress& ip : pod.ips) {
        x.node_by_ip[ip] = pod.node_name;
      }
    } else {
      for (const IpAddress& ip : pod.ips) {
        x.pod_by_ip[ip] = static_cast<int>(i);
      }
    }
    for (const IpAddress& ip : pod.host_ips) {
      x.node_by_ip.emplace(ip, pod.node_name);
    }
  }
  x.pod_addr.resize(n_pods);
  for (size_t i = 0; i < n_pods; ++i) {
    x.pod_addr[i][0] = c.pods[i].IpOfFamily(IpFamily::kV4);
    x.pod_addr[i][1] = c.pods[i].IpOfFamily(IpFamily::kV6);
  }
  x.selecting[0].resize(n_pods);
  x.selecting[1].resize(n_pods);
  x.compiled.resize(c.policies.size());
  x.selected_by_policy.resize(c.policies.size());
  for (size_t p = 0; p < c.policies.size(); ++p) {
    const NetworkPolicy& np = c.policies[p];
    x.policies_by_ns[np.ns].push_back(static_cast<int>(p));
    for (size_t i = 0; i < n_pods; ++i) {
      const Pod& pod = c.pods[i];
      if (pod.host_network || pod.ns != np.ns || !np.pod_selector.Matches(pod.labels)) {
        continue;
      }
      x.selected_by_policy[p].push_back(static_cast<int>(i));
      if (np.affects_ingress) {
        x.selecting[0][i].push_back(static_cast<int>(p));
      }
      if (np.affects_egress) {
        x.selecting[1][i].push_back(static_cast<int>(p));
      }
    }
    for (Direction d : {Direction::kIngress, Direction::kEgress}) {
      for (const Rule& rule : np.Rules(d)) {
        Index::CompiledRule cr;
        for (const Peer& peer : rule.peers) {
          std::vector<char> bits;
          int id = -1;
          if (!peer.ip_block) {
            id = static_cast<int>(x.selector_peers.size());
            x.selector_peers.push_back({static_cast<int>(p), &peer});
            for (const Namespace& n : c.namespaces) {
              bool ns_ok = peer.namespace_selector ? peer.namespace_selector->Matches(n.labels)
                                                   : n.name == np.ns;
              if (ns_ok) {
                x.peers_by_ns[n.name].push_back(id);
              }
            }
            bits.assign(n_pods, 0);
            for (size_t i = 0; i < n_pods; ++i) {
              const Pod& pod = c.pods[i];
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
          cr.peer_ids.push_back(id);
        }
        x.compiled[p].rules[Dir(d)].push_back(std::move(cr));
      }
    }
  }
  n_base_ = static_cast<int>(n_pods);
  index_ = std::move(index);
}

void Evaluator::ComputeMatches(ExtraPod& e) const {
  const Index& x = *index_;
  const Pod& p = e.pod;
  e.addr[0] = p.IpOfFamily(IpFamily::kV4);
  e.addr[1] = p.IpOfFamily(IpFamily::kV6);
  e.selecting[0].clear();
  e.selecting[1].clear();
  e.selected_by.clear();
  e.peer_match.clear();
  if (e.base_matches) {
    return;  // the snapshot's matches of the pod it replaces apply
  }
  e.peer_match.assign(x.selector_peers.size(), 0);
  if (p.host_network) {
    return;  // selectors never match hostNetwork pods
  }
  if (auto it = x.policies_by_ns.find(p.ns); it != x.policies_by_ns.end()) {
    for (int pol : it->second) {
      const NetworkPolicy& np = x.cluster.policies[pol];
      if (!np.pod_selector.Matches(p.labels)) {
        continue;
      }
      e.selected_by.push_back(pol);
      if (np.affects_ingress) {
        e.selecting[0].push_back(pol);
      }
      if (np.affects_egress) {
        e.selecting[1].push_back(pol);
      }
    }
  }
  auto pod_ok = [&](const Peer& peer) {
    return !peer.pod_selector || peer.pod_selector->Matches(p.labels);
  };
  if (auto it = x.peers_by_ns.find(p.ns); it != x.peers_by_ns.end()) {
    for (int id : it->second) {
      e.peer_match[id] = pod_ok(*x.selector_peers[id].peer) ? 1 : 0;
    }
    return;
  }
  // A namespace the snapshot lacks: it carries only its name label and holds no policies.
  const Labels implicit = {{std::string(kNamespaceNameLabel), p.ns}};
  for (size_t id = 0; id < x.selector_peers.size(); ++id) {
    const Peer& peer = *x.selector_peers[id].peer;
    if (peer.namespace_selector && peer.namespace_selector->Matches(implicit) && pod_ok(peer)) {
      e.peer_match[id] = 1;
    }
  }
}

Evaluator Evaluator::WithPods(std::vector<Pod> pods) const {
  Evaluator v;
  v.index_ = index_;
  v.n_base_ = n_base_;
  v.replaced_ = replaced_;
  v.appended_ = appended_;
  const Index& x = *index_;
  for (Pod& p : pods) {
    ExtraPod* slot = nullptr;
    for (std::vector<ExtraPod>* list : {&v.replaced_, &v.appended_}) {
      for (ExtraPod& e : *list) {
        if (e.pod.ns == p.ns && e.pod.name == p.name) {
          slot = &e;
        }
      }
    }
    if (slot == nullptr) {
      if (std::optional<int> i = FindBasePod(p.ns, p.name)) {
        slot = &v.replaced_.emplace_back();
        slot->index = *i;
      } else {
        slot = &v.appended_.emplace_back();
        slot->index = v.n_base_ + static_cast<int>(v.appended_.size()) - 1;
      }
    }
    slot->pod = std::move(p);
    slot->base_matches = false;
    if (slot->index < v.n_base_) {
      const Pod& old = x.cluster.pods[slot->index];
      slot->base_matches =
          old.labels == slot->pod.labels && old.host_network == slot->pod.host_network;
    }
    v.ComputeMatches(*slot);
  }
  return v;
}

const Cluster& Evaluator::cluster() const { return index_->cluster; }

const Pod& Evaluator::pod(int i) const {
  if (const ExtraPod* e = Extra(i)) {
    return e->pod;
  }
  return index_->cluster.pods[i];
}

const std::array<std::optional<IpAddress>, 2>& Evaluator::Addr(int pod) const {
  if (const ExtraPod* e = Extra(pod)) {
    return e->addr;
  }
  return index_->pod_addr[pod];
}

bool Evaluator::PeerSelects(int peer_id, const std::vector<char>& base_bits, int pod) const {
  const ExtraPod* e = Extra(pod);
  if (e == nullptr || e->base_matches) {
    return base_bits[pod] != 0;
  }
  return e->peer_match[peer_id] != 0;
}

std::vector<int> Evaluator::PodsSelectedBy(int policy) const {
  std::vector<int> out;
  AppendPodsSelectedBy(policy, &out);
  return out;
}

void Evaluator::AppendPodsSelectedBy(int policy, std::vector<int>* out_ptr) const {
  std::vector<int>& out = *out_ptr;
  const size_t first = out.size();
  for (int i : index_->selected_by_policy[policy]) {
    const ExtraPod* e = Extra(i);
    if (e == nullptr || e->base_matches) {
      out.push_back(i);
    }
  }
  bool unsorted = false;
  for (const std::vector<ExtraPod>* list : {&replaced_, &appended_}) {
    for (const ExtraPod& e : *list) {
      if (!e.base_matches &&
          std::find(e.selected_by.begin(), e.selected_by.end(), policy) != e.selected_by.end()) {
        unsorted = unsorted || (out.size() > first && out.back() > e.index);
        out.push_back(e.index);
      }
    }
  }
  if (unsorted) {
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  }
}

std::vector<int> Evaluator::PoliciesWithRuleMatching(int pod, Direction d) const {
  std::vector<int> out;
  Endpoint e;
  e.pod = pod;
  const std::vector<NetworkPolicy>& policies = index_->cluster.policies;
  for (int p = 0; p < static_cast<int>(policies.size()); ++p) {
    if (!policies[p].Affects(d)) {
      continue;
    }
    const int n = static_cast<int>(policies[p].Rules(d).size());
    for (int r = 0; r < n; ++r) {
      if (RulePeerMatches(p, d, r, e, IpFamily::kV4) ||
          RulePeerMatches(p, d, r, e, IpFamily::kV6)) {
        out.push_back(p);
        break;
      }
    }
  }
  return out;
}

std::optional<int> Evaluator::FindPod(absl::string_view ns, absl::string_view name) const {
  for (const ExtraPod& e : appended_) {
    if (e.pod.ns == ns && e.pod.name == name) {
      return e.index;
    }
  }
  return FindBasePod(ns, name);
}

std::optional<int> Evaluator::FindBasePod(absl::string_view ns, absl::string_view name) const {
  auto it = index_->pod_by_key.find(ns);
  if (it == index_->pod_by_key.end()) {
    return std::nullopt;
  }
  auto pit = it->second.find(name);
  if (pit == it->second.end()) {
    return std::nullopt;
  }
  return pit->second;
}

Endpoint Evaluator::PodEndpoint(int pod) const {
  Endpoint e;
  e.pod = pod;
  const Pod& p = this->pod(pod);
  e.label = p.Key();
  if (p.host_network) {
    e.node = p.node_name;
  }
  return e;
}

absl::StatusOr<Endpoint> Evaluator::Resolve(absl::string_view ref) const {
  if (absl::StatusOr<IpAddress> ip = IpAddress::Parse(ref); ip.ok()) {
    Endpoint e;
    e.ip = *ip;
    e.label = std::string(ref);
    // A view's own pods first, then the snapshot's (unless a view's pod replaced it).
    for (const std::vector<ExtraPod>* list : {&replaced_, &appended_}) {
      for (const ExtraPod& x : *list) {
        const Pod& p = x.pod;
        if (p.terminated || std::find(p.ips.begin(), p.ips.end(), *ip) == p.ips.end()) {
          continue;
        }
        if (p.host_network) {
          e.node = p.node_name.empty() ? "<node>" : p.node_name;
        } else {
          e.pod = x.index;
        }
        return e;
      }
    }
    if (auto it = index_->pod_by_ip.find(*ip);
        it != index_->pod_by_ip.end() && Extra(it->second) == nullptr) {
      e.pod = it->second;
    } else if (auto nit = index_->node_by_ip.find(*ip); nit != index_->node_by_ip.end()) {
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
  return e.pod >= 0 && !pod(e.pod).host_network;
}

const std::vector<int>& Evaluator::PoliciesSelecting(int pod, Direction d) const {
  if (const ExtraPod* e = Extra(pod); e != nullptr && !e->base_matches) {
    return e->selecting[Dir(d)];
  }
  return index_->selecting[Dir(d)][pod];
}

std::optional<IpAddress> Evaluator::AddressOf(const Endpoint& e, IpFamily family) const {
  if (e.ip) {
    if (e.ip->family() == family) {
      return e.ip;
    }
    return std::nullopt;
  }
  if (e.pod >= 0) {
    return Addr(e.pod)[family == IpFamily::kV4 ? 0 : 1];
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
    const auto& a = Addr(e.pod);
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
  const Rule& r = index_->cluster.policies[policy].Rules(d)[rule];
  if (r.peers.empty()) {
    return true;
  }
  const Index::CompiledRule& cr = index_->compiled[policy].rules[Dir(d)][rule];
  for (size_t i = 0; i < r.peers.size(); ++i) {
    const Peer& peer = r.peers[i];
    if (peer.ip_block) {
      std::optional<IpAddress> addr = AddressOf(other, family);
      if (addr && peer.ip_block->Matches(*addr)) {
        return true;
      }
      continue;
    }
    if (IsPolicySubject(other) && PeerSelects(cr.peer_ids[i], cr.peer_pods[i], other.pod)) {
      return true;
    }
  }
  return false;
}

bool Evaluator::RuleAllows(int policy, Direction d, int rule, const Endpoint& other, int dest_pod,
                           int port, Protocol protocol, IpFamily family) const {
  const Rule& r = index_->cluster.policies[policy].Rules(d)[rule];
  const Pod* dest = dest_pod >= 0 ? &pod(dest_pod) : nullptr;
  // The peer test is a bit lookup for selector peers; named ports compare strings.
  return RulePeerMatches(policy, d, rule, other, family) &&
         PortsMatch(r.ports, dest, port, protocol);
}

std::string Evaluator::NodeOf(const Endpoint& e) const {
  if (e.pod >= 0 && pod(e.pod).host_network) {
    return pod(e.pod).node_name;
  }
  return e.node;
}

bool Evaluator::OwnNode(const Pod& pod, const Endpoint& other) const {
  if (!index_->options.own_node_always_allowed) {
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
    const size_t n = index_->cluster.policies[pol].Rules(d).size();
    for (size_t r = 0; r < n; ++r) {
      if (RuleAllows(pol, d, static_cast<int>(r), other, dest_pod, port, protocol, family)) {
        return true;
      }
    }
  }
  return OwnNode(this->pod(pod), other);
}

DirectionVerdict Evaluator::DirectionAllows(int pod, Direction d, const Endpoint& other, int port,
                                            Protocol protocol, IpFamily family) const {
  DirectionVerdict v;
  v.applies = true;
  const Pod& p = this->pod(pod);
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
    const size_t n = index_->cluster.policies[pol].Rules(d).size();
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
      d.reason = absl::StrCat(pod(e.pod).Key(),
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
