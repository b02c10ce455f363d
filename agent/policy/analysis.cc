#include "agent/policy/analysis.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/policy_yaml.h"

namespace probesnat::policy {

AnalysisOptions::AnalysisOptions()
    : probe_v4(*IpAddress::Parse("169.254.7.127")),
      probe_v6(*IpAddress::Parse("fd16:9254:7127:1337:ffff:ffff:ffff:ffff")) {}

std::string FixYamlCache::Get(const NetworkPolicy& policy, int policy_index, const PolicyEdit& edit,
                              const FixAddresses& addresses) {
  auto same = [](const FixAddresses& a, const FixAddresses& b) {
    return a.tunnel_port == b.tunnel_port && a.probe_v4 == b.probe_v4 && a.probe_v6 == b.probe_v6;
  };
  std::string key =
      absl::StrCat(policy_index, "|", absl::StrJoin(edit.tunnel_port_rules[0], ","), "|",
                   absl::StrJoin(edit.tunnel_port_rules[1], ","), "|",
                   absl::StrJoin(edit.probe_ports, ","), "|", edit.probe_v4, edit.probe_v6);
  {
    absl::MutexLock lock(&mu_);
    if (addresses_ && !same(*addresses_, addresses)) {
      return PolicyToYaml(ApplyEdit(policy, edit, addresses));  // other addresses: not cached
    }
    if (auto it = yaml_.find(key); it != yaml_.end()) {
      return it->second;
    }
  }
  std::string yaml = PolicyToYaml(ApplyEdit(policy, edit, addresses));  // outside the lock
  absl::MutexLock lock(&mu_);
  if (addresses_ && !same(*addresses_, addresses)) {
    return yaml;
  }
  addresses_ = addresses;
  if (yaml_.size() >= max_entries_) {
    yaml_.clear();
  }
  yaml_.emplace(std::move(key), yaml);
  return yaml;
}

size_t FixYamlCache::size() const {
  absl::MutexLock lock(&mu_);
  return yaml_.size();
}

bool Report::compatible() const {
  return std::none_of(findings.begin(), findings.end(),
                      [](const Finding& f) { return f.severity >= Severity::kWarning; });
}

namespace {

std::string BlockString(const IpBlock& b) {
  if (b.except.empty()) {
    return b.cidr.ToString();
  }
  std::vector<std::string> ex;
  for (const Cidr& e : b.except) {
    ex.push_back(e.ToString());
  }
  return absl::StrCat(b.cidr.ToString(), " except ", absl::StrJoin(ex, ","));
}

// An inclusive range of TCP ports, as a rule's `port` + `endPort` names them.
struct PortRange {
  int first = 0;
  int last = 0;
  auto operator<=>(const PortRange&) const = default;
};

// Sorted, with overlapping and adjacent ranges merged.
void MergeRanges(std::vector<PortRange>* ranges) {
  std::sort(ranges->begin(), ranges->end());
  std::vector<PortRange> out;
  for (const PortRange& r : *ranges) {
    if (!out.empty() && r.first <= out.back().last + 1) {
      out.back().last = std::max(out.back().last, r.last);
    } else {
      out.push_back(r);
    }
  }
  *ranges = std::move(out);
}

// "port 8080/TCP", "ports 15000-15010/TCP", "ports 80/TCP, 8080/TCP".
std::string PortsText(const std::vector<PortRange>& ranges) {
  std::vector<std::string> parts;
  for (const PortRange& r : ranges) {
    parts.push_back(r.first == r.last ? absl::StrCat(r.first, "/TCP")
                                      : absl::StrCat(r.first, "-", r.last, "/TCP"));
  }
  const bool one_port = ranges.size() == 1 && ranges[0].first == ranges[0].last;
  return absl::StrCat(one_port ? "port " : "ports ", absl::StrJoin(parts, ", "));
}

// At most three names, then how many more.
std::string SomeNames(const std::vector<std::string>& names) {
  constexpr size_t kShown = 3;
  if (names.size() <= kShown) {
    return absl::StrJoin(names, ", ");
  }
  return absl::StrCat(absl::StrJoin(names.begin(), names.begin() + kShown, ", "), " and ",
                      names.size() - kShown, " more");
}

// The largest port of `ports` from `port` on, within one entry that admits TCP `port` towards
// `dest` (65535 for an entry or a list that admits every port); -1 when none admits it.
int RangeEnd(const std::vector<PortSpec>& ports, const Pod* dest, int port) {
  if (ports.empty()) {
    return 65535;
  }
  int end = -1;
  for (const PortSpec& ps : ports) {
    if (ps.protocol != Protocol::kTCP) {
      continue;
    }
    if (!ps.has_port) {
      return 65535;
    }
    if (ps.named.empty()) {
      if (port >= ps.number && port <= ps.end_port.value_or(ps.number)) {
        end = std::max(end, ps.end_port.value_or(ps.number));
      }
    } else if (Evaluator::PortsMatch({ps}, dest, port, Protocol::kTCP)) {
      end = std::max(end, port);
    }
  }
  return end;
}

class Analyzer {
 public:
  // `meshed`: by pod index, the pods in the mesh once the subjects are (subjects included).
  Analyzer(const Evaluator& ev, const AnalysisOptions& opt, std::vector<char> meshed)
      : ev_(ev), c_(ev.cluster()), opt_(opt), meshed_(std::move(meshed)) {
    probe4_ = Cidr::Host(opt.probe_v4);
    probe6_ = Cidr::Host(opt.probe_v6);
    n_pods_ = ev.pod_count();
    rule_base_.reserve(2 * c_.policies.size() + 1);
    int rules = 0;
    for (const NetworkPolicy& np : c_.policies) {
      rule_base_.push_back(rules);
      rules += static_cast<int>(np.ingress.size());
      rule_base_.push_back(rules);
      rules += static_cast<int>(np.egress.size());
    }
    rule_base_.push_back(rules);
    // Only the pod and, for hostNetwork pods, the node matter to the evaluator (no labels).
    endpoints_.resize(n_pods_);
    for (int i = 0; i < n_pods_; ++i) {
      endpoints_[i].pod = i;
      if (ev.pod(i).host_network) {
        endpoints_[i].node = ev.pod(i).node_name;
      }
    }
  }

  // `enrolled`: mesh pods that are not subjects themselves (a subject's own analysis already
  // covers every peer, the other subjects included); `in_mesh` marks them by pod index.
  void Subject(int p, const std::vector<int>& enrolled, const std::vector<char>& in_mesh) {
    subject_ = p;
    subject_peer_.assign(rule_base_.empty() ? 0 : 2 * rule_base_.back(), -1);
    IngressHbone(p, -1);
    EgressTowards(p);
    if (!ev_.PoliciesSelecting(p, Direction::kEgress).empty()) {
      for (int d : enrolled) {
        if (d != p && Usable(d)) {
          EgressHbone(p, d, p);
        }
      }
    }
    // Enrolled destinations whose ingress could concern p: those selected by a policy with an
    // ingress rule whose peers match p (no other rule can let p in).
    std::vector<int> selected, dests;
    for (int pol : ev_.PoliciesWithRuleMatching(p, Direction::kIngress)) {
      selected.clear();
      ev_.AppendPodsSelectedBy(pol, &selected);
      for (int d : selected) {
        if (in_mesh[d] && d != p && Usable(d)) {
          dests.push_back(d);
        }
      }
    }
    std::sort(dests.begin(), dests.end());
    dests.erase(std::unique(dests.begin(), dests.end()), dests.end());
    for (int d : dests) {
      IngressHbone(d, p);
    }
    Probes(p);
  }

  Report Finish(std::vector<std::string> subjects, std::vector<std::string> notes,
                FixYamlCache* cache) {
    Report rep;
    rep.subjects = std::move(subjects);
    rep.notes = std::move(notes);
    FixAddresses addr{opt_.probe_v4, opt_.probe_v6, opt_.tunnel_port};
    std::map<int, std::string> yaml;
    for (const auto& [pol, edit] : edits_) {
      yaml[pol] = cache != nullptr ? cache->Get(c_.policies[pol], pol, edit, addr)
                                   : PolicyToYaml(ApplyEdit(c_.policies[pol], edit, addr));
      rep.fixes.push_back({c_.policies[pol].ns, c_.policies[pol].name, yaml[pol]});
    }
    for (auto& [key, pending] : findings_) {
      std::sort(pending.pods.begin(), pending.pods.end());
      pending.pods.erase(std::unique(pending.pods.begin(), pending.pods.end()), pending.pods.end());
      MergeRanges(&pending.ports);
      Finding f = Render(key, pending);
      f.fix_yaml = yaml[key.policy];
      rep.findings.push_back(std::move(f));
    }
    return rep;
  }

 private:
  // `outbound`: the subject is the source (its own egress, or an enrolled destination's ingress),
  // the affected peers are the destinations; otherwise the peers are sources towards the subject.
  struct Key {
    int kind, policy, dir, rule, subject, family;
    bool outbound;
    auto operator<=>(const Key&) const = default;
  };
  // A finding being collected; rendered to words once complete.
  struct Pending {
    std::vector<int> pods;               // affected pods (by index; sorted, unique once Finish)
    std::vector<std::string> others;     // affected CIDRs
    std::vector<PortRange> ports;        // the ports that work today (merged once Finish)
    std::vector<std::string> isolating;  // PROBE: the policies isolating the subject
  };

  // RulePeerMatches of `pod`'s endpoint; memoized for the subject, the other end of most tests.
  bool PeerMatches(int pol, Direction d, int rule, int pod, IpFamily fam) {
    if (pod != subject_) {
      return ev_.RulePeerMatches(pol, d, rule, endpoints_[pod], fam);
    }
    int8_t& m =
        subject_peer_[2 * (rule_base_[2 * pol + (d == Direction::kIngress ? 0 : 1)] + rule) +
                      (fam == IpFamily::kV4 ? 0 : 1)];
    if (m < 0) {
      m = ev_.RulePeerMatches(pol, d, rule, endpoints_[pod], fam) ? 1 : 0;
    }
    return m != 0;
  }

  // Evaluator::Allowed(pod, d, other's endpoint, port, TCP, fam), with the subject's peer matches
  // memoized. The subject is a pod that is not hostNetwork and its endpoint carries no IP, so it
  // is never `pod`'s node: no own-node exemption applies to it.
  bool AllowedWith(int pod, Direction d, int other, int port, IpFamily fam) {
    if (other != subject_) {
      return ev_.Allowed(pod, d, endpoints_[other], port, Protocol::kTCP, fam);
    }
    const std::vector<int>& policies = ev_.PoliciesSelecting(pod, d);
    if (policies.empty()) {
      return true;
    }
    const Pod* dest = &ev_.pod(d == Direction::kIngress ? pod : other);
    for (int pol : policies) {
      const std::vector<Rule>& rules = c_.policies[pol].Rules(d);
      for (int r = 0; r < static_cast<int>(rules.size()); ++r) {
        if (PeerMatches(pol, d, r, other, fam) &&
            Evaluator::PortsMatch(rules[r].ports, dest, port, Protocol::kTCP)) {
          return true;
        }
      }
    }
    return false;
  }

  bool Usable(int pod) const {
    const Pod& p = ev_.pod(pod);
    return !p.host_network && !p.terminated;
  }

  // TCP ports a rule's `ports` name for traffic to `dest` (named ports resolved on it).
  std::vector<int> TcpCandidates(const Rule& rule, const Pod& dest) const {
    std::vector<int> out;
    TcpCandidates(rule, dest, &out);
    return out;
  }
  void TcpCandidates(const Rule& rule, const Pod& dest, std::vector<int>* out_ptr) const {
    std::vector<int>& out = *out_ptr;
    out.clear();
    for (const PortSpec& ps : rule.ports) {
      if (ps.protocol != Protocol::kTCP || !ps.has_port) {
        continue;
      }
      if (ps.named.empty()) {
        out.push_back(ps.number);
        continue;
      }
      for (const ContainerPort& cp : dest.ports) {
        if (cp.name == ps.named && cp.protocol == Protocol::kTCP) {
          out.push_back(cp.port);
        }
      }
    }
  }

  // The TCP port ranges a rule's `ports` name for traffic to `dest` (named ports resolved on it).
  void AddTcpRanges(const Rule& rule, const Pod& dest, std::vector<PortRange>* out) const {
    for (const PortSpec& ps : rule.ports) {
      if (ps.protocol != Protocol::kTCP || !ps.has_port) {
        continue;
      }
      if (ps.named.empty()) {
        out->push_back({ps.number, ps.end_port.value_or(ps.number)});
        continue;
      }
      for (const ContainerPort& cp : dest.ports) {
        if (cp.name == ps.named && cp.protocol == Protocol::kTCP) {
          out->push_back({cp.port, cp.port});
        }
      }
    }
  }

  // How far from `port` on `pod`'s policies of direction `d` let `other` through in one entry of
  // one rule (65535 when `pod` is not isolated); -1 when they do not let `port` through.
  int AllowedUpTo(int pod, Direction d, int other, int port, IpFamily fam) {
    const std::vector<int>& policies = ev_.PoliciesSelecting(pod, d);
    if (policies.empty()) {
      return 65535;
    }
    const Pod* dest = &ev_.pod(d == Direction::kIngress ? pod : other);
    int end = -1;
    for (int pol : policies) {
      const std::vector<Rule>& rules = c_.policies[pol].Rules(d);
      for (int r = 0; r < static_cast<int>(rules.size()); ++r) {
        if (PeerMatches(pol, d, r, other, fam)) {
          end = std::max(end, RangeEnd(rules[r].ports, dest, port));
        }
      }
    }
    return end;
  }

  // `own` (ports of `rule` towards `dest`) plus the TCP port starts of `pod`'s rules of direction
  // `d` that `rule` also admits: together they hit every overlap of two sets of port ranges.
  void AddOtherSideStarts(int pod, Direction d, const Rule& rule, const Pod& dest,
                          const std::vector<int>& own, std::vector<int>* out) {
    *out = own;
    // The starts depend on (pod, d, dest) only: the last ones are kept (a subject's analysis asks
    // for the same ones over and over).
    if (starts_pod_ != pod || starts_dir_ != d || starts_dest_ != &dest) {
      starts_.clear();
      std::vector<int>& more = more_;
      for (int pol : ev_.PoliciesSelecting(pod, d)) {
        for (const Rule& other : c_.policies[pol].Rules(d)) {
          TcpCandidates(other, dest, &more);
          starts_.insert(starts_.end(), more.begin(), more.end());
        }
      }
      starts_pod_ = pod;
      starts_dir_ = d;
      starts_dest_ = &dest;
    }
    for (int port : starts_) {
      if (Evaluator::PortsMatch(rule.ports, &dest, port, Protocol::kTCP)) {
        out->push_back(port);
      }
    }
  }

  Pending& Add(FindingKind kind, int pol, Direction d, int rule, int subject, int family = 0,
               bool outbound = false) {
    return findings_[Key{static_cast<int>(kind), pol, static_cast<int>(d), rule, subject, family,
                         outbound}];
  }

  // Blocks that hold no pod that could tunnel: the probe addresses and link-local ranges.
  bool ProbeOnly(const IpBlock& b) const {
    return probe4_.Contains(b.cidr) || probe6_.Contains(b.cidr) || link_local4_.Contains(b.cidr) ||
           link_local6_.Contains(b.cidr);
  }

  // Some rule of `pod`'s ingress policies allows the tunnel port from everything `b` covers.
  bool TunnelCoversBlock(int pod, const IpBlock& b) const {
    const Pod& p = ev_.pod(pod);
    for (int pol : ev_.PoliciesSelecting(pod, Direction::kIngress)) {
      for (const Rule& r : c_.policies[pol].ingress) {
        if (!Evaluator::PortsMatch(r.ports, &p, opt_.tunnel_port, Protocol::kTCP)) {
          continue;
        }
        if (r.peers.empty()) {
          return true;
        }
        for (const Peer& peer : r.peers) {
          if (!peer.ip_block || !peer.ip_block->cidr.Contains(b.cidr)) {
            continue;
          }
          bool ok = true;
          for (const Cidr& e2 : peer.ip_block->except) {
            if (!e2.Overlaps(b.cidr)) {
              continue;
            }
            bool inside = std::any_of(b.except.begin(), b.except.end(),
                                      [&](const Cidr& e) { return e.Contains(e2); });
            if (!inside) {
              ok = false;
            }
          }
          if (ok) {
            return true;
          }
        }
      }
    }
    return false;
  }

  bool TunnelCoversEveryone(int pod) const {
    const Pod& p = ev_.pod(pod);
    for (int pol : ev_.PoliciesSelecting(pod, Direction::kIngress)) {
      for (const Rule& r : c_.policies[pol].ingress) {
        if (r.peers.empty() &&
            Evaluator::PortsMatch(r.ports, &p, opt_.tunnel_port, Protocol::kTCP)) {
          return true;
        }
      }
    }
    return false;
  }

  // HBONE into `dst`: every peer its ingress rules let in on some TCP port must be let in on the
  // tunnel port. `only_src` >= 0 restricts the peers to that pod, the subject (an enrolled `dst`'s
  // ingress towards a new peer): the finding is then the subject's, listing the destinations.
  void IngressHbone(int dst, int only_src) {
    const Pod& dp = ev_.pod(dst);
    const Endpoint& de = endpoints_[dst];
    const IpFamily single_fam =
        only_src >= 0 ? ev_.ChooseFamily(endpoints_[only_src], de) : IpFamily::kV4;
    // The rules that concern TCP without the tunnel port, with their ports towards dst.
    size_t n_rules = 0;
    for (int pol : ev_.PoliciesSelecting(dst, Direction::kIngress)) {
      const std::vector<Rule>& rules = c_.policies[pol].ingress;
      for (int r = 0; r < static_cast<int>(rules.size()); ++r) {
        if (only_src >= 0 && !PeerMatches(pol, Direction::kIngress, r, only_src, single_fam)) {
          continue;  // the cheap test first: this rule does not concern the one source
        }
        if (Evaluator::PortsMatch(rules[r].ports, &dp, opt_.tunnel_port, Protocol::kTCP)) {
          continue;
        }
        if (n_rules == in_rules_.size()) {
          in_rules_.emplace_back();
        }
        InRule& ir = in_rules_[n_rules];
        TcpCandidates(rules[r], dp, &ir.ports);
        if (ir.ports.empty()) {
          continue;
        }
        ir.policy = pol;
        ir.rule = r;
        ir.affected.clear();
        ++n_rules;
      }
    }
    if (n_rules == 0) {
      return;
    }
    // Sources outer, rules inner: a source's egress port starts are computed once for all rules.
    const int n = n_pods_;
    for (int s = only_src >= 0 ? only_src : 0; s < (only_src >= 0 ? only_src + 1 : n); ++s) {
      if (s == dst || !Usable(s)) {
        continue;
      }
      const Endpoint& se = endpoints_[s];
      const IpFamily fam = only_src >= 0 ? single_fam : ev_.ChooseFamily(se, de);
      int8_t tunnel_ok = -1;  // whether dst's ingress already allows s on the tunnel port
      for (size_t i = 0; i < n_rules; ++i) {
        InRule& ir = in_rules_[i];
        if (!PeerMatches(ir.policy, Direction::kIngress, ir.rule, s, fam)) {
          continue;
        }
        if (tunnel_ok < 0) {
          tunnel_ok = AllowedWith(dst, Direction::kIngress, s, opt_.tunnel_port, fam) ? 1 : 0;
        }
        if (tunnel_ok) {
          break;  // the same for every rule
        }
        // Some port of this rule that s's egress also allows (port ranges may overlap anywhere,
        // so the other side's range starts are candidates too).
        const Rule& rule = c_.policies[ir.policy].ingress[ir.rule];
        AddOtherSideStarts(s, Direction::kEgress, rule, dp, ir.ports, &candidates_);
        bool reaches = std::any_of(candidates_.begin(), candidates_.end(), [&](int port) {
          return AllowedWith(s, Direction::kEgress, dst, port, fam);
        });
        if (reaches) {
          ir.affected.push_back(s);
        }
      }
    }
    for (size_t i = 0; i < n_rules; ++i) {
      const InRule& ir = in_rules_[i];
      const int pol = ir.policy;
      const int r = ir.rule;
      const Rule& rule = c_.policies[pol].ingress[r];
      std::vector<std::string>& others = others_;
      others.clear();
      if (only_src < 0 && rule.peers.empty() && !TunnelCoversEveryone(dst)) {
        // No `from`: every source, in or out of the snapshot, may use these ports.
        if (dp.ips.empty() || dp.HasFamily(IpFamily::kV4)) {
          others.push_back("0.0.0.0/0");
        }
        if (dp.HasFamily(IpFamily::kV6)) {
          others.push_back("::/0");
        }
      }
      if (only_src < 0) {
        for (const Peer& peer : rule.peers) {
          if (!peer.ip_block || ProbeOnly(*peer.ip_block)) {
            continue;
          }
          if (!TunnelCoversBlock(dst, *peer.ip_block)) {
            others.push_back(BlockString(*peer.ip_block));
          }
        }
      }
      if (ir.affected.empty() && others.empty()) {
        continue;
      }
      if (only_src >= 0) {
        Pending& f =
            Add(FindingKind::kHboneIngress, pol, Direction::kIngress, r, only_src, 0, true);
        f.pods.push_back(dst);
        AddTcpRanges(rule, dp, &f.ports);
        edits_[pol].tunnel_port_rules[0].insert(r);
        continue;
      }
      Pending& f = Add(FindingKind::kHboneIngress, pol, Direction::kIngress, r, dst);
      f.pods.insert(f.pods.end(), ir.affected.begin(), ir.affected.end());
      for (std::string& o : others) {
        if (std::find(f.others.begin(), f.others.end(), o) == f.others.end()) {
          f.others.push_back(o);
        }
      }
      AddTcpRanges(rule, dp, &f.ports);
      edits_[pol].tunnel_port_rules[0].insert(r);
    }
  }

  // HBONE from `src` to `dst`: if `src` is egress-isolated and may reach `dst` today on some TCP
  // port, it must be allowed to reach `dst` on the tunnel port.
  void EgressHbone(int src, int dst, int subject) {
    const std::vector<int>& policies = ev_.PoliciesSelecting(src, Direction::kEgress);
    if (policies.empty()) {
      return;
    }
    const Endpoint& se = endpoints_[src];
    const Endpoint& de = endpoints_[dst];
    IpFamily fam = ev_.ChooseFamily(se, de);
    if (AllowedWith(src, Direction::kEgress, dst, opt_.tunnel_port, fam)) {
      return;
    }
    const Pod& dp = ev_.pod(dst);
    for (int pol : policies) {
      const std::vector<Rule>& rules = c_.policies[pol].egress;
      for (int r = 0; r < static_cast<int>(rules.size()); ++r) {
        if (!PeerMatches(pol, Direction::kEgress, r, dst, fam)) {
          continue;
        }
        std::vector<int>& working = working_;
        working.clear();
        TcpCandidates(rules[r], dp, &scratch_);
        AddOtherSideStarts(dst, Direction::kIngress, rules[r], dp, scratch_, &candidates_);
        for (int port : candidates_) {
          if (AllowedWith(dst, Direction::kIngress, src, port, fam)) {
            working.push_back(port);
          }
        }
        if (working.empty()) {
          continue;
        }
        Pending& f =
            Add(FindingKind::kHboneEgress, pol, Direction::kEgress, r, subject, 0, subject == src);
        f.pods.push_back(subject == src ? dst : src);
        // Each working port starts a range that both ends allow (an overlap of their ranges).
        for (int port : working) {
          const int end = std::min(RangeEnd(rules[r].ports, &dp, port),
                                   AllowedUpTo(dst, Direction::kIngress, src, port, fam));
          f.ports.push_back({port, std::max(port, end)});
        }
        edits_[pol].tunnel_port_rules[1].insert(r);
      }
    }
  }

  // Every egress-isolated pod that may reach `dst`: only pods selected by a policy with an egress
  // rule whose peers match `dst` can.
  void EgressTowards(int dst) {
    std::vector<int> sources;
    for (int pol : ev_.PoliciesWithRuleMatching(dst, Direction::kEgress)) {
      ev_.AppendPodsSelectedBy(pol, &sources);
    }
    std::sort(sources.begin(), sources.end());
    sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
    for (int s : sources) {
      if (s == dst || !Usable(s)) {
        continue;
      }
      EgressHbone(s, dst, dst);
    }
  }

  void Probes(int p) {
    const Pod& pod = ev_.pod(p);
    const std::vector<int>& isolating = ev_.PoliciesSelecting(p, Direction::kIngress);
    if (isolating.empty()) {
      return;
    }
    std::set<int> ports_set;
    for (int port : pod.ProbePorts()) {
      ports_set.insert(port);
    }
    for (int port : opt_.extra_probe_ports) {
      ports_set.insert(port);
    }
    if (ports_set.empty()) {
      return;
    }
    int chosen = *std::min_element(isolating.begin(), isolating.end(), [&](int a, int b) {
      return c_.policies[a].Key() < c_.policies[b].Key();
    });
    std::vector<std::string> names;
    names.reserve(isolating.size());
    for (int pol : isolating) {
      names.push_back(c_.policies[pol].Key());
    }
    std::sort(names.begin(), names.end());
    bool v4 = pod.ips.empty() || pod.HasFamily(IpFamily::kV4);
    bool v6 = pod.HasFamily(IpFamily::kV6);
    for (IpFamily fam : {IpFamily::kV4, IpFamily::kV6}) {
      if ((fam == IpFamily::kV4 && !v4) || (fam == IpFamily::kV6 && !v6)) {
        continue;
      }
      const IpAddress& probe = fam == IpFamily::kV4 ? opt_.probe_v4 : opt_.probe_v6;
      Endpoint pe;
      pe.ip = probe;
      pe.label = probe.ToString();
      std::vector<int> missing;
      for (int port : ports_set) {
        if (!ev_.Allowed(p, Direction::kIngress, pe, port, Protocol::kTCP, fam)) {
          missing.push_back(port);
        }
      }
      if (missing.empty()) {
        continue;
      }
      Pending& f = Add(FindingKind::kProbeIngress, chosen, Direction::kIngress, -1, p,
                       fam == IpFamily::kV4 ? 4 : 6);
      f.others = {Cidr::Host(probe).ToString()};
      for (int port : missing) {
        f.ports.push_back({port, port});
      }
      f.isolating = names;
      PolicyEdit& e = edits_[chosen];
      e.probe_ports.insert(missing.begin(), missing.end());
      (fam == IpFamily::kV4 ? e.probe_v4 : e.probe_v6) = true;
    }
  }

  // What the HBONE traffic of the peers `pods` (sources) and `cidrs` does once the subject is in
  // the mesh. Only a peer in the mesh sends HBONE: one that is not keeps reaching the subject in
  // plaintext on the ports that work today, until it joins. `to` names the destination.
  std::string HboneConsequence(const std::vector<int>& pods, const std::vector<std::string>& cidrs,
                               absl::string_view to) const {
    const std::string tunnel = absl::StrCat("port ", opt_.tunnel_port, "/TCP");
    std::vector<std::string> in_mesh, outside;
    for (int pod : pods) {
      (meshed_[pod] ? in_mesh : outside).push_back(ev_.pod(pod).Key());
    }
    std::string out;
    if (!in_mesh.empty()) {
      absl::StrAppend(&out, " In the mesh, ", SomeNames(in_mesh),
                      in_mesh.size() == 1 ? " sends its" : " send their",
                      " connections as HBONE tunnels to ", tunnel, to,
                      " from the same source IPs, and this policy drops them.");
    }
    if (!outside.empty()) {
      const bool one = outside.size() == 1;
      absl::StrAppend(&out, " ", SomeNames(outside), one ? " is" : " are",
                      " not in the mesh (yet): ", one ? "its" : "their",
                      " plaintext connections keep working, but once ",
                      one ? "it joins" : "they join", " the mesh, ", one ? "its" : "their",
                      " HBONE traffic to ", tunnel, to, " would be blocked.");
    }
    if (!cidrs.empty()) {
      absl::StrAppend(&out, " Other sources in ", SomeNames(cidrs),
                      ": their plaintext connections keep working, but once one of them joins the "
                      "mesh, its HBONE traffic to ",
                      tunnel, to, " would be blocked.");
    }
    return out;
  }

  Finding Render(const Key& key, const Pending& p) const {
    Finding f;
    f.severity = Severity::kError;
    f.kind = static_cast<FindingKind>(key.kind);
    f.subject = ev_.pod(key.subject).Key();
    const NetworkPolicy& pol = c_.policies[key.policy];
    f.policy_namespace = pol.ns;
    f.policy_name = pol.name;
    f.rule_index = key.rule;
    f.direction = key.dir == 0 ? Direction::kIngress : Direction::kEgress;
    for (int pod : p.pods) {
      f.affected_peers.push_back(ev_.pod(pod).Key());
    }
    f.affected_peers.insert(f.affected_peers.end(), p.others.begin(), p.others.end());
    const std::string ports = PortsText(p.ports);
    const int tunnel = opt_.tunnel_port;
    const std::string fix = absl::StrCat(" Fix: add ", tunnel, "/TCP to this rule's ports.");
    const std::string not_tunnel = absl::StrCat(" but not on port ", tunnel, "/TCP.");
    const std::string rule = absl::StrCat("NetworkPolicy ", pol.Key(), " ",
                                          DirectionName(f.direction), " rule ", key.rule, " lets ");
    // The subject as the source towards enrolled destinations: it sends HBONE once enrolled.
    const std::string outbound =
        absl::StrCat(rule, f.subject, " reach ", f.affected_peers.size(), " enrolled pod(s) on ",
                     ports, not_tunnel, " Once ", f.subject,
                     " is in the mesh, its connections to them travel as HBONE tunnels to port ",
                     tunnel, "/TCP and will be dropped.", fix);
    switch (f.kind) {
      case FindingKind::kHboneIngress:
        if (key.outbound) {
          f.message = outbound;
          break;
        }
        f.message =
            absl::StrCat(rule, f.affected_peers.size(), " peer(s) reach ", f.subject, " on ", ports,
                         not_tunnel, HboneConsequence(p.pods, p.others, ""), fix);
        break;
      case FindingKind::kHboneEgress:
        if (key.outbound) {
          f.message = outbound;
          break;
        }
        f.message = absl::StrCat(
            rule, f.affected_peers.size(), " pod(s) reach ", f.subject, " on ", ports, not_tunnel,
            HboneConsequence(p.pods, {}, absl::StrCat(" of ", f.subject)), fix);
        break;
      case FindingKind::kProbeIngress:
        f.cni_dependent = true;
        f.message = absl::StrCat(
            f.subject, " is ingress-isolated by ", absl::StrJoin(p.isolating, ", "),
            " and no rule allows the probe address ", p.others[0], " on ", ports,
            ". In the mesh, kubelet probes are SNATed to that link-local address. Some CNIs "
            "exempt node traffic from NetworkPolicy, but the SNATed source no longer looks like "
            "the node, so most CNIs will drop the probes and the pod will turn unready. Fix: "
            "allow ipBlock ",
            p.others[0], " on those ports (a rule added to ", pol.Key(), ").");
        break;
      case FindingKind::kNotChecked:  // the daemon's, never the analysis's
        break;
    }
    return f;
  }

  const Evaluator& ev_;
  const Cluster& c_;
  const AnalysisOptions& opt_;
  const std::vector<char> meshed_;
  Cidr probe4_, probe6_;
  Cidr link_local4_ = *Cidr::Parse("169.254.0.0/16");
  Cidr link_local6_ = *Cidr::Parse("fe80::/10");
  int n_pods_ = 0;
  int subject_ = -1;                  // the subject being analysed
  std::vector<int> rule_base_;        // per policy and direction: its first rule's number
  std::vector<int8_t> subject_peer_;  // per rule number and family: -1 unknown, 0/1
  std::vector<Endpoint> endpoints_;
  std::vector<int> candidates_, working_, scratch_, more_, ports_;  // scratch buffers
  std::vector<int> starts_;  // AddOtherSideStarts' last (pod, direction, dest)
  int starts_pod_ = -1;
  Direction starts_dir_ = Direction::kIngress;
  const Pod* starts_dest_ = nullptr;
  // Scratch of IngressHbone: its rules at hand (ports towards the destination, sources affected).
  struct InRule {
    int policy = -1;
    int rule = -1;
    std::vector<int> ports;
    std::vector<int> affected;
  };
  std::vector<InRule> in_rules_;
  std::vector<std::string> others_;
  std::map<Key, Pending> findings_;
  std::map<int, PolicyEdit> edits_;
};

}  // namespace

Report Analyze(const Evaluator& evaluator, const std::vector<int>& subjects,
               const std::vector<int>& enrolled, const AnalysisOptions& options,
               FixYamlCache* cache) {
  const int n = evaluator.pod_count();
  std::vector<char> is_subject(n, 0);
  for (int s : subjects) {
    is_subject[s] = 1;
  }
  std::vector<char> in_mesh(n, 0);  // enrolled pods that are not subjects
  for (int i : enrolled) {
    in_mesh[i] = !is_subject[i] && !evaluator.pod(i).host_network ? 1 : 0;
  }
  std::vector<int> mesh;
  for (int i = 0; i < n; ++i) {
    if (in_mesh[i]) {
      mesh.push_back(i);
    }
  }
  std::vector<char> meshed(in_mesh);
  for (int s : subjects) {
    meshed[s] = evaluator.pod(s).host_network ? 0 : 1;
  }
  Analyzer a(evaluator, options, std::move(meshed));
  std::vector<std::string> names, notes;
  for (int s : subjects) {
    const Pod& p = evaluator.pod(s);
    if (p.host_network) {
      notes.push_back(absl::StrCat(p.Key(), " uses the host network and cannot be enrolled"));
      continue;
    }
    names.push_back(p.Key());
    a.Subject(s, mesh, in_mesh);
  }
  return a.Finish(std::move(names), std::move(notes), cache);
}

}  // namespace probesnat::policy
