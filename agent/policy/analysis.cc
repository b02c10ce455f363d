#include "agent/policy/analysis.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/policy_yaml.h"

namespace probesnat::policy {

absl::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "INFO";
    case Severity::kWarning:
      return "WARNING";
    case Severity::kError:
      return "ERROR";
  }
  return "?";
}

absl::string_view FindingKindName(FindingKind k) {
  switch (k) {
    case FindingKind::kHboneIngress:
      return "HBONE_INGRESS";
    case FindingKind::kHboneEgress:
      return "HBONE_EGRESS";
    case FindingKind::kProbeIngress:
      return "PROBE_INGRESS";
  }
  return "?";
}

AnalysisOptions::AnalysisOptions()
    : probe_v4(*Ip::Parse("169.254.7.127")),
      probe_v6(*Ip::Parse("fd16:9254:7127:1337:ffff:ffff:ffff:ffff")) {}

bool Report::compatible() const {
  return std::none_of(findings.begin(), findings.end(),
                      [](const Finding& f) { return f.severity >= Severity::kWarning; });
}

namespace {

std::string PortList(const std::vector<int>& ports) { return absl::StrJoin(ports, ", "); }

std::string BlockString(const IpBlock& b) {
  if (b.except.empty()) return b.cidr.ToString();
  std::vector<std::string> ex;
  for (const Cidr& e : b.except) ex.push_back(e.ToString());
  return absl::StrCat(b.cidr.ToString(), " except ", absl::StrJoin(ex, ","));
}

class Analyzer {
 public:
  Analyzer(const Evaluator& ev, const AnalysisOptions& opt) : ev_(ev), c_(ev.cluster()), opt_(opt) {
    probe4_ = Cidr::Host(opt.probe_v4);
    probe6_ = Cidr::Host(opt.probe_v6);
  }

  void Subject(int p, const std::vector<int>& enrolled) {
    IngressHbone(p, -1);
    EgressTowards(p);
    for (int d : enrolled) {
      if (d == p || !Usable(d)) continue;
      EgressHbone(p, d, p);
      IngressHbone(d, p);
    }
    Probes(p);
  }

  Report Finish(std::vector<std::string> subjects, std::vector<std::string> notes) {
    Report rep;
    rep.subjects = std::move(subjects);
    rep.notes = std::move(notes);
    FixAddresses addr{opt_.probe_v4, opt_.probe_v6, opt_.tunnel_port};
    std::map<int, std::string> yaml;
    for (const auto& [pol, edit] : edits_) {
      yaml[pol] = PolicyToYaml(ApplyEdit(c_.policies[pol], edit, addr));
      rep.fixes.push_back({c_.policies[pol].ns, c_.policies[pol].name, yaml[pol]});
    }
    for (auto& [key, f] : findings_) {
      f.fix_yaml = yaml[std::get<1>(key)];
      rep.findings.push_back(std::move(f));
    }
    return rep;
  }

 private:
  using Key = std::tuple<int, int, int, int, std::string>;  // kind, policy, dir, rule, subject

  bool Usable(int pod) const {
    const Pod& p = c_.pods[pod];
    return !p.host_network && !p.terminated;
  }

  // TCP ports a rule's `ports` name for traffic to `dest` (named ports resolved on it).
  std::vector<int> TcpCandidates(const Rule& rule, const Pod& dest) const {
    std::vector<int> out;
    for (const PortSpec& ps : rule.ports) {
      if (ps.protocol != Protocol::kTCP || !ps.has_port) continue;
      if (ps.named.empty()) {
        out.push_back(ps.number);
        continue;
      }
      for (const ContainerPort& cp : dest.ports) {
        if (cp.name == ps.named && cp.protocol == Protocol::kTCP) out.push_back(cp.port);
      }
    }
    return out;
  }

  Finding& Add(FindingKind kind, int pol, Direction d, int rule, const std::string& subject) {
    Key key{static_cast<int>(kind), pol, static_cast<int>(d), rule, subject};
    auto [it, inserted] = findings_.try_emplace(key);
    Finding& f = it->second;
    if (inserted) {
      f.severity = Severity::kError;
      f.kind = kind;
      f.subject = subject;
      f.policy_namespace = c_.policies[pol].ns;
      f.policy_name = c_.policies[pol].name;
      f.rule_index = rule;
      f.direction = d;
    }
    return f;
  }

  void AddPeer(Finding& f, const std::string& peer) {
    if (std::find(f.affected_peers.begin(), f.affected_peers.end(), peer) ==
        f.affected_peers.end()) {
      f.affected_peers.push_back(peer);
    }
  }

  // Blocks that hold no pod that could tunnel: the probe addresses and link-local ranges.
  bool ProbeOnly(const IpBlock& b) const {
    return probe4_.Contains(b.cidr) || probe6_.Contains(b.cidr) || link_local4_.Contains(b.cidr) ||
           link_local6_.Contains(b.cidr);
  }

  // Some rule of `pod`'s ingress policies allows the tunnel port from everything `b` covers.
  bool TunnelCoversBlock(int pod, const IpBlock& b) const {
    const Pod& p = c_.pods[pod];
    for (int pol : ev_.PoliciesSelecting(pod, Direction::kIngress)) {
      for (const Rule& r : c_.policies[pol].ingress) {
        if (!Evaluator::PortsMatch(r.ports, &p, opt_.tunnel_port, Protocol::kTCP)) continue;
        if (r.peers.empty()) return true;
        for (const Peer& peer : r.peers) {
          if (!peer.ip_block || !peer.ip_block->cidr.Contains(b.cidr)) continue;
          bool ok = true;
          for (const Cidr& e2 : peer.ip_block->except) {
            if (!e2.Overlaps(b.cidr)) continue;
            bool inside = std::any_of(b.except.begin(), b.except.end(),
                                      [&](const Cidr& e) { return e.Contains(e2); });
            if (!inside) ok = false;
          }
          if (ok) return true;
        }
      }
    }
    return false;
  }

  bool TunnelCoversEveryone(int pod) const {
    const Pod& p = c_.pods[pod];
    for (int pol : ev_.PoliciesSelecting(pod, Direction::kIngress)) {
      for (const Rule& r : c_.policies[pol].ingress) {
        if (r.peers.empty() && Evaluator::PortsMatch(r.ports, &p, opt_.tunnel_port, Protocol::kTCP)) {
          return true;
        }
      }
    }
    return false;
  }

  // HBONE into `dst`: every peer its ingress rules let in on some TCP port must be let in on the
  // tunnel port. `only_src` >= 0 restricts the peers to that pod.
  void IngressHbone(int dst, int only_src) {
    const Pod& dp = c_.pods[dst];
    const Endpoint de = ev_.PodEndpoint(dst);
    for (int pol : ev_.PoliciesSelecting(dst, Direction::kIngress)) {
      const std::vector<Rule>& rules = c_.policies[pol].ingress;
      for (int r = 0; r < static_cast<int>(rules.size()); ++r) {
        const Rule& rule = rules[r];
        if (Evaluator::PortsMatch(rule.ports, &dp, opt_.tunnel_port, Protocol::kTCP)) continue;
        std::vector<int> ports = TcpCandidates(rule, dp);
        if (ports.empty()) continue;
        std::vector<std::string> affected;
        const int n = static_cast<int>(c_.pods.size());
        for (int s = only_src >= 0 ? only_src : 0; s < (only_src >= 0 ? only_src + 1 : n); ++s) {
          if (s == dst || !Usable(s)) continue;
          Endpoint se = ev_.PodEndpoint(s);
          IpFamily fam = ev_.ChooseFamily(se, de);
          if (!ev_.RulePeerMatches(pol, Direction::kIngress, r, se, fam)) continue;
          if (ev_.Allowed(dst, Direction::kIngress, se, opt_.tunnel_port, Protocol::kTCP, fam)) {
            continue;
          }
          bool reaches = std::any_of(ports.begin(), ports.end(), [&](int port) {
            return ev_.Allowed(s, Direction::kEgress, de, port, Protocol::kTCP, fam);
          });
          if (reaches) affected.push_back(c_.pods[s].Key());
        }
        if (only_src < 0 && rule.peers.empty() && !TunnelCoversEveryone(dst)) {
          // No `from`: every source, in or out of the snapshot, may use these ports.
          if (dp.ips.empty() || dp.HasFamily(IpFamily::kV4)) affected.push_back("0.0.0.0/0");
          if (dp.HasFamily(IpFamily::kV6)) affected.push_back("::/0");
        }
        if (only_src < 0) {
          for (const Peer& peer : rule.peers) {
            if (!peer.ip_block || ProbeOnly(*peer.ip_block)) continue;
            if (!TunnelCoversBlock(dst, *peer.ip_block)) affected.push_back(BlockString(*peer.ip_block));
          }
        }
        if (affected.empty()) continue;
        Finding& f = Add(FindingKind::kHboneIngress, pol, Direction::kIngress, r, dp.Key());
        for (const std::string& a : affected) AddPeer(f, a);
        std::sort(ports.begin(), ports.end());
        ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
        f.message = absl::StrCat(
            "NetworkPolicy ", c_.policies[pol].Key(), " ingress rule ", r, " lets ",
            f.affected_peers.size(), " peer(s) reach ", dp.Key(), " on TCP ", PortList(ports),
            " but not on TCP ", opt_.tunnel_port, ". In the mesh, their connections arrive as "
            "HBONE tunnels on TCP ", opt_.tunnel_port, " from the same source IPs and will be "
            "dropped. Fix: add ", opt_.tunnel_port, "/TCP to this rule's ports.");
        edits_[pol].tunnel_port_rules[0].insert(r);
      }
    }
  }

  // HBONE from `src` to `dst`: if `src` is egress-isolated and may reach `dst` today on some TCP
  // port, it must be allowed to reach `dst` on the tunnel port.
  void EgressHbone(int src, int dst, int subject) {
    if (ev_.PoliciesSelecting(src, Direction::kEgress).empty()) return;
    const Endpoint se = ev_.PodEndpoint(src);
    const Endpoint de = ev_.PodEndpoint(dst);
    IpFamily fam = ev_.ChooseFamily(se, de);
    if (ev_.Allowed(src, Direction::kEgress, de, opt_.tunnel_port, Protocol::kTCP, fam)) return;
    const Pod& dp = c_.pods[dst];
    for (int pol : ev_.PoliciesSelecting(src, Direction::kEgress)) {
      const std::vector<Rule>& rules = c_.policies[pol].egress;
      for (int r = 0; r < static_cast<int>(rules.size()); ++r) {
        if (!ev_.RulePeerMatches(pol, Direction::kEgress, r, de, fam)) continue;
        std::vector<int> ports = TcpCandidates(rules[r], dp);
        std::vector<int> working;
        for (int port : ports) {
          if (ev_.Allowed(dst, Direction::kIngress, se, port, Protocol::kTCP, fam)) {
            working.push_back(port);
          }
        }
        if (working.empty()) continue;
        std::sort(working.begin(), working.end());
        working.erase(std::unique(working.begin(), working.end()), working.end());
        const std::string& subj = c_.pods[subject].Key();
        Finding& f = Add(FindingKind::kHboneEgress, pol, Direction::kEgress, r, subj);
        const std::string peer = subject == src ? dp.Key() : c_.pods[src].Key();
        AddPeer(f, peer);
        f.message = absl::StrCat(
            "NetworkPolicy ", c_.policies[pol].Key(), " egress rule ", r, " lets ",
            subject == src ? subj : absl::StrCat(f.affected_peers.size(), " pod(s)"), " reach ",
            subject == src ? absl::StrCat(f.affected_peers.size(), " enrolled pod(s)") : subj,
            " on TCP ", PortList(working), " but not on TCP ", opt_.tunnel_port,
            ". In the mesh that traffic is tunnelled (HBONE) to TCP ", opt_.tunnel_port,
            " of the destination and will be dropped. Fix: add ", opt_.tunnel_port,
            "/TCP to this rule's ports.");
        edits_[pol].tunnel_port_rules[1].insert(r);
      }
    }
  }

  void EgressTowards(int dst) {
    for (int s = 0; s < static_cast<int>(c_.pods.size()); ++s) {
      if (s == dst || !Usable(s)) continue;
      EgressHbone(s, dst, dst);
    }
  }

  void Probes(int p) {
    const Pod& pod = c_.pods[p];
    const std::vector<int>& isolating = ev_.PoliciesSelecting(p, Direction::kIngress);
    if (isolating.empty()) return;
    std::set<int> ports_set;
    for (int port : pod.ProbePorts()) ports_set.insert(port);
    for (int port : opt_.extra_probe_ports) ports_set.insert(port);
    if (ports_set.empty()) return;
    int chosen = *std::min_element(isolating.begin(), isolating.end(), [&](int a, int b) {
      return c_.policies[a].Key() < c_.policies[b].Key();
    });
    std::vector<std::string> names;
    for (int pol : isolating) names.push_back(c_.policies[pol].Key());
    std::sort(names.begin(), names.end());
    bool v4 = pod.ips.empty() || pod.HasFamily(IpFamily::kV4);
    bool v6 = pod.HasFamily(IpFamily::kV6);
    for (IpFamily fam : {IpFamily::kV4, IpFamily::kV6}) {
      if ((fam == IpFamily::kV4 && !v4) || (fam == IpFamily::kV6 && !v6)) continue;
      const Ip& probe = fam == IpFamily::kV4 ? opt_.probe_v4 : opt_.probe_v6;
      Endpoint pe;
      pe.ip = probe;
      pe.label = probe.ToString();
      std::vector<int> missing;
      for (int port : ports_set) {
        if (!ev_.Allowed(p, Direction::kIngress, pe, port, Protocol::kTCP, fam)) {
          missing.push_back(port);
        }
      }
      if (missing.empty()) continue;
      Finding& f = Add(FindingKind::kProbeIngress, chosen, Direction::kIngress, -1,
                       absl::StrCat(pod.Key(), fam == IpFamily::kV4 ? "" : " "));
      f.subject = pod.Key();
      f.cni_dependent = true;
      AddPeer(f, Cidr::Host(probe).ToString());
      f.message = absl::StrCat(
          pod.Key(), " is ingress-isolated by ", absl::StrJoin(names, ", "),
          " and no rule allows the probe address ", probe.ToString(), " on TCP ",
          PortList(missing), ". In the mesh, kubelet probes are SNATed to that link-local "
          "address; some CNIs exempt node traffic from NetworkPolicy, but the SNATed source no "
          "longer looks like the node, so most CNIs will drop the probes and the pod will turn "
          "unready. Fix: allow ipBlock ", Cidr::Host(probe).ToString(), " on those ports (added to ",
          c_.policies[chosen].Key(), ").");
      PolicyEdit& e = edits_[chosen];
      e.probe_ports.insert(missing.begin(), missing.end());
      (fam == IpFamily::kV4 ? e.probe_v4 : e.probe_v6) = true;
    }
  }

  const Evaluator& ev_;
  const Cluster& c_;
  const AnalysisOptions& opt_;
  Cidr probe4_, probe6_;
  Cidr link_local4_ = *Cidr::Parse("169.254.0.0/16");
  Cidr link_local6_ = *Cidr::Parse("fe80::/10");
  std::map<Key, Finding> findings_;
  std::map<int, PolicyEdit> edits_;
};

}  // namespace

Report Analyze(const Evaluator& evaluator, const std::vector<int>& subjects,
               const std::vector<int>& enrolled, const AnalysisOptions& options) {
  const Cluster& c = evaluator.cluster();
  std::set<int> all(enrolled.begin(), enrolled.end());
  all.insert(subjects.begin(), subjects.end());
  std::vector<int> mesh;
  for (int i : all) {
    if (!c.pods[i].host_network) mesh.push_back(i);
  }
  Analyzer a(evaluator, options);
  std::vector<std::string> names, notes;
  for (int s : subjects) {
    const Pod& p = c.pods[s];
    if (p.host_network) {
      notes.push_back(absl::StrCat(p.Key(), " uses the host network and cannot be enrolled"));
      continue;
    }
    names.push_back(p.Key());
    a.Subject(s, mesh);
  }
  return a.Finish(std::move(names), std::move(notes));
}

}  // namespace probesnat::policy
