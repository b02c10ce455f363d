#include "agent/policy/model.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"

namespace probesnat::policy {

std::optional<IpAddress> Pod::IpOfFamily(IpFamily f) const {
  for (const IpAddress& ip : ips) {
    if (ip.family() == f) {
      return ip;
    }
  }
  return std::nullopt;
}

std::vector<int> Pod::ProbePorts() const {
  std::set<int> out;
  for (const ProbeTarget& t : probes) {
    if (t.name.empty()) {
      if (t.number > 0) {
        out.insert(t.number);
      }
      continue;
    }
    for (const ContainerPort& cp : ports) {
      if (cp.name == t.name && cp.protocol == Protocol::kTCP) {
        out.insert(cp.port);
      }
    }
  }
  return {out.begin(), out.end()};
}

bool IpBlock::Matches(const IpAddress& ip) const {
  if (!cidr.Contains(ip)) {
    return false;
  }
  return std::none_of(except.begin(), except.end(), [&](const Cidr& e) { return e.Contains(ip); });
}

namespace {

void EnsureNamespace(std::vector<Namespace>* namespaces, const std::string& name) {
  for (const Namespace& n : *namespaces) {
    if (n.name == name) {
      return;
    }
  }
  namespaces->push_back({name, {{std::string(kNamespaceNameLabel), name}}});
}

}  // namespace

void Cluster::UpsertPod(Pod pod) {
  EnsureNamespace(&namespaces, pod.ns);
  for (Pod& p : pods) {
    if (p.ns == pod.ns && p.name == pod.name) {
      p = std::move(pod);
      return;
    }
  }
  pods.push_back(std::move(pod));
}

void Cluster::UpsertPolicy(NetworkPolicy policy) {
  EnsureNamespace(&namespaces, policy.ns);
  for (NetworkPolicy& p : policies) {
    if (p.ns == policy.ns && p.name == policy.name) {
      p = std::move(policy);
      return;
    }
  }
  policies.push_back(std::move(policy));
}

void Cluster::AddImplicitNamespaces() {
  std::set<std::string> known;
  for (const Namespace& n : namespaces) {
    known.insert(n.name);
  }
  auto ensure = [&](const std::string& name) {
    if (known.insert(name).second) {
      namespaces.push_back({name, {{std::string(kNamespaceNameLabel), name}}});
    }
  };
  for (const Pod& p : pods) {
    ensure(p.ns);
  }
  for (const NetworkPolicy& p : policies) {
    ensure(p.ns);
  }
}

}  // namespace probesnat::policy
