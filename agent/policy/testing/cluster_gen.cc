#include "agent/policy/testing/cluster_gen.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace probesnat::policy::testing {

namespace {

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Int(1, 100) <= percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Int(0, static_cast<int>(v.size()) - 1)];
  }

 private:
  std::mt19937 rng_;
};

const std::vector<std::string> kApps = {"web", "api", "db", "cache", "worker"};
const std::vector<std::string> kTeams = {"a", "b", "c"};

LabelSelector AppSelector(Gen& g) {
  LabelSelector s;
  switch (g.Int(0, 4)) {
    case 0:
      break;  // {}
    case 1:
    case 2:
      s.match_labels["app"] = g.Pick(kApps);
      break;
    case 3:
      s.match_expressions.push_back(
          {"app", LabelRequirement::Op::kIn, {g.Pick(kApps), g.Pick(kApps)}});
      break;
    default:
      s.match_expressions.push_back(
          {"tier",
           g.Chance(50) ? LabelRequirement::Op::kExists : LabelRequirement::Op::kDoesNotExist,
           {}});
      break;
  }
  return s;
}

Peer RandomPeer(Gen& g, int n_ns) {
  Peer p;
  switch (g.Int(0, 5)) {
    case 0:
      p.pod_selector = AppSelector(g);
      break;
    case 1: {
      LabelSelector ns;
      ns.match_labels["team"] = g.Pick(kTeams);
      p.namespace_selector = ns;
      break;
    }
    case 2: {
      LabelSelector ns;
      if (g.Chance(50)) {
        ns.match_labels[std::string(kNamespaceNameLabel)] = absl::StrCat("ns", g.Int(0, n_ns - 1));
      }
      p.namespace_selector = ns;
      p.pod_selector = AppSelector(g);
      break;
    }
    case 3: {
      IpBlock b{*Cidr::Parse(absl::StrCat("10.", g.Int(0, n_ns - 1), ".0.0/16")), {}};
      if (g.Chance(50)) {
        b.except.push_back(*Cidr::Parse(absl::StrCat(b.cidr.base().ToString(), "/24")));
      }
      p.ip_block = b;
      break;
    }
    case 4: {
      IpBlock b{*Cidr::Parse(g.Chance(50) ? "0.0.0.0/0" : "fd00::/16"), {}};
      if (g.Chance(30)) {
        b.except.push_back(
            *Cidr::Parse(b.cidr.family() == IpFamily::kV4 ? "10.0.0.0/8" : "fd00:1::/32"));
      }
      p.ip_block = b;
      break;
    }
    default:
      p.pod_selector = LabelSelector{};
      break;
  }
  return p;
}

PortSpec RandomPort(Gen& g) {
  PortSpec ps;
  ps.has_port = true;
  switch (g.Int(0, 7)) {
    case 0:
      ps.named = "http";
      break;
    case 1:
      ps.named = "grpc";
      break;
    case 2:
      ps.number = 8080;
      break;
    case 3:
      ps.number = 8000;
      ps.end_port = g.Chance(30) ? 16000 : 8100;
      break;
    case 4:
      ps.protocol = Protocol::kUDP;
      ps.protocol_explicit = true;
      ps.number = 53;
      break;
    case 5:
      ps.protocol = Protocol::kSCTP;
      ps.protocol_explicit = true;
      ps.number = 9999;
      break;
    case 6:
      ps.has_port = false;
      ps.protocol_explicit = true;
      ps.protocol = g.Chance(50) ? Protocol::kTCP : Protocol::kUDP;
      break;
    default:
      ps.number = 9090;
      ps.protocol_explicit = true;
      break;
  }
  return ps;
}

Rule RandomRule(Gen& g, int n_ns) {
  Rule r;
  int peers = g.Int(0, 2);
  for (int i = 0; i < peers; ++i) {
    r.peers.push_back(RandomPeer(g, n_ns));
  }
  int ports = g.Int(0, 2);
  for (int i = 0; i < ports; ++i) {
    r.ports.push_back(RandomPort(g));
  }
  return r;
}

}  // namespace

Cluster GenerateCluster(const GenOptions& o, uint32_t seed) {
  Gen g(seed);
  Cluster c;
  for (int i = 0; i < o.namespaces; ++i) {
    std::string name = absl::StrCat("ns", i);
    c.namespaces.push_back(
        {name, {{std::string(kNamespaceNameLabel), name}, {"team", kTeams[i % kTeams.size()]}}});
  }
  for (int i = 0; i < o.pods; ++i) {
    Pod p;
    int ns = i % o.namespaces;
    p.ns = absl::StrCat("ns", ns);
    p.name = absl::StrCat(g.Pick(kApps), "-", i);
    p.uid = absl::StrCat("uid-", i);
    p.labels["app"] = p.name.substr(0, p.name.find('-'));
    if (g.Chance(50)) {
      p.labels["tier"] = g.Chance(50) ? "front" : "back";
    }
    p.node_name = absl::StrCat("node", i % 4);
    p.host_ips.push_back(*IpAddress::Parse(absl::StrCat("192.168.0.", i % 4 + 1)));
    if (o.host_network && g.Chance(3)) {
      p.host_network = true;
      p.ips = p.host_ips;
    } else if (!g.Chance(3)) {
      p.ips.push_back(*IpAddress::Parse(absl::StrCat("10.", ns, ".", i / 250, ".", i % 250 + 1)));
      if (o.dual_stack && g.Chance(30)) {
        p.ips.push_back(*IpAddress::Parse(absl::StrCat("fd00::", ns, ":", i + 1)));
      }
    }
    p.ports.push_back({"http", g.Chance(80) ? 8080 : 8081, Protocol::kTCP});
    if (g.Chance(50)) {
      p.ports.push_back({"grpc", 9090, Protocol::kTCP});
    }
    if (g.Chance(30)) {
      p.ports.push_back({"dns", 53, Protocol::kUDP});
    }
    switch (g.Int(0, 3)) {
      case 0:
        p.probes.push_back({0, "http"});
        break;
      case 1:
        p.probes.push_back({8080, ""});
        p.probes.push_back({15021, ""});
        break;
      case 2:
        break;
      default:
        p.probes.push_back({9090, ""});
        break;
    }
    c.pods.push_back(std::move(p));
  }
  for (int i = 0; i < o.policies; ++i) {
    NetworkPolicy np;
    np.ns = absl::StrCat("ns", i % o.namespaces);
    np.name = absl::StrCat("np-", i);
    np.pod_selector = AppSelector(g);
    int kind = g.Int(0, 9);
    if (kind == 0) {
      np.policy_types_explicit = true;  // deny all ingress
    } else if (kind == 1) {
      np.policy_types_explicit = true;  // deny all egress, ingress untouched
      np.affects_ingress = false;
      np.affects_egress = true;
    } else {
      int nin = g.Int(0, 3);
      for (int r = 0; r < nin; ++r) {
        np.ingress.push_back(RandomRule(g, o.namespaces));
      }
      if (g.Chance(40)) {
        int neg = g.Int(1, 2);
        for (int r = 0; r < neg; ++r) {
          np.egress.push_back(RandomRule(g, o.namespaces));
        }
      }
      if (g.Chance(30)) {
        np.policy_types_explicit = true;
        np.affects_ingress = !np.ingress.empty() || g.Chance(50);
        np.affects_egress = !np.egress.empty() || !np.affects_ingress;
      } else {
        np.affects_ingress = true;
        np.affects_egress = !np.egress.empty();
      }
    }
    c.policies.push_back(std::move(np));
  }
  return c;
}

}  // namespace probesnat::policy::testing
