#include "agent/policy/object_parsers.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/yaml_child.h"
#include "base/k8s_names.h"
#include "base/port.h"

namespace probesnat::policy {

namespace {

using Problems = std::vector<FieldProblem>;

bool Present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

std::optional<std::string> Str(const YAML::Node& n, const std::string& field, Problems* p) {
  if (!Present(n)) {
    return std::nullopt;
  }
  if (!n.IsScalar()) {
    p->push_back({field, "must be a string"});
    return std::nullopt;
  }
  return n.Scalar();
}

// A plain (unquoted) scalar that reads as a decimal integer.
std::optional<long> PlainInt(const YAML::Node& n) {
  if (!n.IsScalar() || n.Tag() == "!") {
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<long> Int(const YAML::Node& n, const std::string& field, Problems* p) {
  if (!Present(n)) {
    return std::nullopt;
  }
  std::optional<long> v = PlainInt(n);
  if (!v) {
    p->push_back({field, "must be an integer"});
  }
  return v;
}

bool Bool(const YAML::Node& n) {
  if (!Present(n) || !n.IsScalar()) {
    return false;
  }
  return absl::AsciiStrToLower(n.Scalar()) == "true";
}

Labels ParseLabels(const YAML::Node& n, const std::string& field, Problems* p) {
  Labels out;
  if (!Present(n)) {
    return out;
  }
  if (!n.IsMap()) {
    p->push_back({field, "must be a map of strings"});
    return out;
  }
  for (const auto& kv : n) {
    std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar() && !kv.second.IsNull()) {
      p->push_back({absl::StrCat(field, ".", key), "must be a string"});
      continue;
    }
    out[key] = kv.second.IsNull() ? "" : kv.second.Scalar();
  }
  return out;
}

std::optional<IpAddress> ParseIp(const YAML::Node& n, const std::string& field, Problems* p) {
  std::optional<std::string> s = Str(n, field, p);
  if (!s) {
    return std::nullopt;
  }
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(*s);
  if (!ip.ok()) {
    p->push_back({field, std::string(ip.status().message())});
    return std::nullopt;
  }
  return *ip;
}

std::optional<Cidr> ParseCidr(const YAML::Node& n, const std::string& field, Problems* p) {
  std::optional<std::string> s = Str(n, field, p);
  if (!s) {
    if (!Present(n)) {
      p->push_back({field, "is required"});
    }
    return std::nullopt;
  }
  absl::StatusOr<Cidr> c = Cidr::Parse(*s);
  if (!c.ok()) {
    p->push_back({field, std::string(c.status().message())});
    return std::nullopt;
  }
  return *c;
}

void AddProbe(const YAML::Node& probe, const std::string& field, Pod* pod, Problems* p) {
  if (!Present(probe) || !probe.IsMap()) {
    return;
  }
  for (const char* handler : {"httpGet", "tcpSocket", "grpc"}) {
    YAML::Node port = Child(Child(probe, handler), "port");
    if (!Child(probe, handler).IsDefined() || !Present(port) || !port.IsScalar()) {
      continue;
    }
    if (std::optional<long> v = PlainInt(port)) {
      if (IsPort(*v)) {
        pod->probes.push_back({static_cast<int>(*v), ""});
      }
    } else {
      pod->probes.push_back({0, port.Scalar()});
    }
  }
}

std::vector<IpAddress> ParseIpList(const YAML::Node& list, const YAML::Node& single,
                                   const std::string& field, Problems* p) {
  std::vector<IpAddress> out;
  if (Present(list) && list.IsSequence() && list.size() > 0) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto ip = ParseIp(Child(list[i], "ip"), absl::StrCat(field, "s[", i, "].ip"), p)) {
        out.push_back(*ip);
      }
    }
    return out;
  }
  if (auto ip = ParseIp(single, field, p)) {
    out.push_back(*ip);
  }
  return out;
}

std::optional<PortSpec> ParsePortSpec(const YAML::Node& n, const std::string& field, Problems* p) {
  size_t before = p->size();
  PortSpec ps;
  if (!n.IsMap() && !n.IsNull()) {
    p->push_back({field, "must be an object"});
    return std::nullopt;
  }
  if (std::optional<std::string> proto = Str(Child(n, "protocol"), field + ".protocol", p)) {
    if (*proto == "TCP") {
      ps.protocol = Protocol::kTCP;
    } else if (*proto == "UDP") {
      ps.protocol = Protocol::kUDP;
    } else if (*proto == "SCTP") {
      ps.protocol = Protocol::kSCTP;
    } else {
      p->push_back({field + ".protocol",
                    absl::StrCat("unsupported protocol \"", *proto, "\" (TCP, UDP or SCTP)")});
    }
    ps.protocol_explicit = true;
  }
  YAML::Node port = Child(n, "port");
  if (Present(port)) {
    if (!port.IsScalar()) {
      p->push_back({field + ".port", "must be a number or a port name"});
    } else if (std::optional<long> v = PlainInt(port)) {
      if (!IsPort(*v)) {
        p->push_back({field + ".port", absl::StrCat("port ", *v, " is outside 1-65535")});
      }
      ps.has_port = true;
      ps.number = static_cast<int>(*v);
    } else if (!IsIanaServiceName(port.Scalar())) {
      p->push_back({field + ".port", absl::StrCat("\"", port.Scalar(),
                                                  "\" is neither a port number nor a valid port "
                                                  "name (IANA_SVC_NAME)")});
    } else {
      ps.has_port = true;
      ps.named = port.Scalar();
    }
  }
  if (Present(Child(n, "endPort"))) {
    std::optional<long> end = Int(Child(n, "endPort"), field + ".endPort", p);
    if (end) {
      if (!ps.has_port || !ps.named.empty()) {
        p->push_back({field + ".endPort", "may only be set with a numeric port"});
      } else if (*end < ps.number) {
        p->push_back(
            {field + ".endPort", absl::StrCat("endPort ", *end, " is below port ", ps.number)});
      } else if (*end > kMaxPort) {
        p->push_back({field + ".endPort", absl::StrCat("endPort ", *end, " is above 65535")});
      }
      ps.end_port = static_cast<int>(*end);
    }
  }
  if (p->size() != before) {
    return std::nullopt;
  }
  return ps;
}

std::optional<Peer> ParsePeer(const YAML::Node& n, const std::string& field, Problems* p) {
  size_t before = p->size();
  Peer peer;
  if (!n.IsMap()) {
    p->push_back(
        {field, "a peer must be an object with podSelector, namespaceSelector or ipBlock"});
    return std::nullopt;
  }
  if (Present(Child(n, "podSelector"))) {
    peer.pod_selector = ParseLabelSelector(Child(n, "podSelector"), field + ".podSelector", p);
  }
  if (Present(Child(n, "namespaceSelector"))) {
    peer.namespace_selector =
        ParseLabelSelector(Child(n, "namespaceSelector"), field + ".namespaceSelector", p);
  }
  if (Present(Child(n, "ipBlock"))) {
    const YAML::Node& ib = Child(n, "ipBlock");
    std::string f = field + ".ipBlock";
    if (std::optional<Cidr> cidr = ParseCidr(Child(ib, "cidr"), f + ".cidr", p)) {
      IpBlock block{*cidr, {}};
      const YAML::Node& ex = Child(ib, "except");
      if (Present(ex) && !ex.IsSequence()) {
        p->push_back({f + ".except", "must be a list"});
      }
      if (Present(ex) && ex.IsSequence()) {
        for (size_t i = 0; i < ex.size(); ++i) {
          std::string ef = absl::StrCat(f, ".except[", i, "]");
          std::optional<Cidr> e = ParseCidr(ex[i], ef, p);
          if (!e) {
            continue;
          }
          if (!cidr->Contains(*e) || e->prefix() <= cidr->prefix()) {
            p->push_back({ef, absl::StrCat(e->ToString(), " must be a strict subset of cidr ",
                                           cidr->ToString())});
            continue;
          }
          block.except.push_back(*e);
        }
      }
      peer.ip_block = block;
    }
    if (Present(Child(n, "podSelector")) || Present(Child(n, "namespaceSelector"))) {
      p->push_back({f, "ipBlock cannot be combined with podSelector or namespaceSelector"});
    }
  }
  if (!Present(Child(n, "podSelector")) && !Present(Child(n, "namespaceSelector")) &&
      !Present(Child(n, "ipBlock"))) {
    p->push_back({field, "a peer must set podSelector, namespaceSelector or ipBlock"});
  }
  if (p->size() != before) {
    return std::nullopt;
  }
  return peer;
}

std::vector<Rule> ParseRules(const YAML::Node& list, const std::string& field,
                             const char* peers_key, Problems* p) {
  std::vector<Rule> rules;
  if (!Present(list)) {
    return rules;
  }
  if (!list.IsSequence()) {
    p->push_back({field, "must be a list of rules"});
    return rules;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    std::string rf = absl::StrCat(field, "[", i, "]");
    const YAML::Node& rn = list[i];
    Rule rule;
    if (rn.IsNull()) {
      rules.push_back(rule);
      continue;
    }
    if (!rn.IsMap()) {
      p->push_back({rf, "must be an object"});
      continue;
    }
    const YAML::Node& peers = Child(rn, peers_key);
    if (Present(peers)) {
      if (!peers.IsSequence()) {
        p->push_back({absl::StrCat(rf, ".", peers_key), "must be a list"});
      } else {
        for (size_t j = 0; j < peers.size(); ++j) {
          if (auto peer = ParsePeer(peers[j], absl::StrCat(rf, ".", peers_key, "[", j, "]"), p)) {
            rule.peers.push_back(*peer);
          }
        }
      }
    }
    const YAML::Node& ports = Child(rn, "ports");
    if (Present(ports)) {
      if (!ports.IsSequence()) {
        p->push_back({rf + ".ports", "must be a list"});
      } else {
        for (size_t j = 0; j < ports.size(); ++j) {
          if (auto ps = ParsePortSpec(ports[j], absl::StrCat(rf, ".ports[", j, "]"), p)) {
            rule.ports.push_back(*ps);
          }
        }
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace

std::optional<LabelSelector> ParseLabelSelector(const YAML::Node& node, const std::string& field,
                                                Problems* p) {
  size_t before = p->size();
  LabelSelector sel;
  if (!Present(node)) {
    return sel;
  }
  if (!node.IsMap()) {
    p->push_back({field, "must be a label selector object"});
    return std::nullopt;
  }
  const YAML::Node& ml = Child(node, "matchLabels");
  if (Present(ml)) {
    if (!ml.IsMap()) {
      p->push_back({field + ".matchLabels", "must be a map of strings"});
    } else {
      for (const auto& kv : ml) {
        std::string key = kv.first.Scalar();
        std::string f = absl::StrCat(field, ".matchLabels.", key);
        std::string value = kv.second.IsNull()
                                ? ""
                                : (kv.second.IsScalar() ? kv.second.Scalar() : std::string("\x01"));
        if (!IsLabelKey(key)) {
          p->push_back({f, absl::StrCat("invalid label key \"", key, "\"")});
        }
        if (!IsLabelValue(value)) {
          p->push_back({f, "invalid label value"});
        }
        sel.match_labels[key] = value;
      }
    }
  }
  const YAML::Node& me = Child(node, "matchExpressions");
  if (Present(me)) {
    if (!me.IsSequence()) {
      p->push_back({field + ".matchExpressions", "must be a list"});
    } else {
      for (size_t i = 0; i < me.size(); ++i) {
        std::string f = absl::StrCat(field, ".matchExpressions[", i, "]");
        LabelRequirement r;
        std::optional<std::string> key = Str(Child(me[i], "key"), f + ".key", p);
        if (!key || !IsLabelKey(*key)) {
          p->push_back({f + ".key", "a valid label key is required"});
          continue;
        }
        r.key = *key;
        std::optional<std::string> op = Str(Child(me[i], "operator"), f + ".operator", p);
        if (!op) {
          p->push_back({f + ".operator", "is required"});
          continue;
        }
        absl::StatusOr<LabelRequirement::Op> parsed = ParseOp(*op);
        if (!parsed.ok()) {
          p->push_back({f + ".operator", std::string(parsed.status().message())});
          continue;
        }
        r.op = *parsed;
        const YAML::Node& values = Child(me[i], "values");
        if (Present(values) && !values.IsSequence()) {
          p->push_back({f + ".values", "must be a list"});
          continue;
        }
        if (Present(values)) {
          for (const auto& v : values) {
            if (!v.IsScalar() || !IsLabelValue(v.Scalar())) {
              p->push_back({f + ".values", "holds an invalid label value"});
            } else {
              r.values.push_back(v.Scalar());
            }
          }
        }
        bool set_op = r.op == LabelRequirement::Op::kIn || r.op == LabelRequirement::Op::kNotIn;
        if (set_op && r.values.empty()) {
          p->push_back({f + ".values", absl::StrCat("must be non-empty for ", *op)});
        }
        if (!set_op && !r.values.empty()) {
          p->push_back({f + ".values", absl::StrCat("must be empty for ", *op)});
        }
        sel.match_expressions.push_back(std::move(r));
      }
    }
  }
  if (p->size() != before) {
    return std::nullopt;
  }
  return sel;
}

std::optional<Namespace> ParseNamespace(const YAML::Node& obj, Problems* p) {
  size_t before = p->size();
  Namespace ns;
  std::optional<std::string> name = Str(Child(Child(obj, "metadata"), "name"), "metadata.name", p);
  if (!name || name->empty()) {
    p->push_back({"metadata.name", "is required"});
    return std::nullopt;
  }
  ns.name = *name;
  ns.labels = ParseLabels(Child(Child(obj, "metadata"), "labels"), "metadata.labels", p);
  ns.labels[std::string(kNamespaceNameLabel)] = ns.name;
  if (p->size() != before) {
    return std::nullopt;
  }
  return ns;
}

std::optional<Pod> ParsePod(const YAML::Node& obj, Problems* p) {
  size_t before = p->size();
  Pod pod;
  const YAML::Node& md = Child(obj, "metadata");
  std::optional<std::string> name = Str(Child(md, "name"), "metadata.name", p);
  if (!name || name->empty()) {
    p->push_back({"metadata.name", "is required"});
    return std::nullopt;
  }
  pod.name = *name;
  pod.ns = Str(Child(md, "namespace"), "metadata.namespace", p).value_or("default");
  if (pod.ns.empty()) {
    pod.ns = "default";
  }
  pod.uid = Str(Child(md, "uid"), "metadata.uid", p).value_or("");
  pod.labels = ParseLabels(Child(md, "labels"), "metadata.labels", p);
  const YAML::Node& spec = Child(obj, "spec");
  pod.host_network = Bool(Child(spec, "hostNetwork"));
  pod.node_name = Str(Child(spec, "nodeName"), "spec.nodeName", p).value_or("");
  const YAML::Node& containers = Child(spec, "containers");
  if (Present(containers) && containers.IsSequence()) {
    for (size_t i = 0; i < containers.size(); ++i) {
      const YAML::Node& c = containers[i];
      std::string cf = absl::StrCat("spec.containers[", i, "]");
      const YAML::Node& ports = Child(c, "ports");
      if (Present(ports) && ports.IsSequence()) {
        for (size_t j = 0; j < ports.size(); ++j) {
          std::string pf = absl::StrCat(cf, ".ports[", j, "]");
          ContainerPort cp;
          cp.name = Str(Child(ports[j], "name"), pf + ".name", p).value_or("");
          std::optional<long> num = Int(Child(ports[j], "containerPort"), pf + ".containerPort", p);
          if (!num || !IsPort(*num)) {
            p->push_back({pf + ".containerPort", "a port in 1-65535 is required"});
            continue;
          }
          cp.port = static_cast<int>(*num);
          std::string proto = Str(Child(ports[j], "protocol"), pf + ".protocol", p).value_or("TCP");
          std::optional<Protocol> parsed = ParseProtocol(proto);
          if (!parsed) {
            p->push_back({pf + ".protocol", absl::StrCat("unsupported protocol \"", proto, "\"")});
            continue;
          }
          cp.protocol = *parsed;
          pod.ports.push_back(cp);
        }
      }
      for (const char* probe : {"readinessProbe", "livenessProbe", "startupProbe"}) {
        AddProbe(Child(c, probe), absl::StrCat(cf, ".", probe), &pod, p);
      }
    }
  }
  const YAML::Node& status = Child(obj, "status");
  if (Present(status)) {
    pod.ips = ParseIpList(Child(status, "podIPs"), Child(status, "podIP"), "status.podIP", p);
    pod.host_ips =
        ParseIpList(Child(status, "hostIPs"), Child(status, "hostIP"), "status.hostIP", p);
    std::string phase = Str(Child(status, "phase"), "status.phase", p).value_or("");
    pod.terminated = phase == "Succeeded" || phase == "Failed";
  }
  if (p->size() != before) {
    return std::nullopt;
  }
  return pod;
}

std::optional<NetworkPolicy> ParseNetworkPolicy(const YAML::Node& obj, Problems* p) {
  size_t before = p->size();
  NetworkPolicy np;
  const YAML::Node& md = Child(obj, "metadata");
  std::optional<std::string> name = Str(Child(md, "name"), "metadata.name", p);
  if (!name || name->empty()) {
    p->push_back({"metadata.name", "is required"});
    return std::nullopt;
  }
  np.name = *name;
  np.ns = Str(Child(md, "namespace"), "metadata.namespace", p).value_or("default");
  if (np.ns.empty()) {
    np.ns = "default";
  }
  np.labels = ParseLabels(Child(md, "labels"), "metadata.labels", p);
  np.annotations = ParseLabels(Child(md, "annotations"), "metadata.annotations", p);
  const YAML::Node& spec = Child(obj, "spec");
  if (!Present(spec) || !spec.IsMap()) {
    p->push_back({"spec", "is required"});
    return std::nullopt;
  }
  if (auto sel = ParseLabelSelector(Child(spec, "podSelector"), "spec.podSelector", p)) {
    np.pod_selector = *sel;
  }
  np.ingress = ParseRules(Child(spec, "ingress"), "spec.ingress", "from", p);
  np.egress = ParseRules(Child(spec, "egress"), "spec.egress", "to", p);
  const YAML::Node& types = Child(spec, "policyTypes");
  if (Present(types) && !types.IsSequence()) {
    p->push_back({"spec.policyTypes", "must be a list"});
  } else if (Present(types) && types.size() > 0) {
    np.policy_types_explicit = true;
    np.affects_ingress = false;
    np.affects_egress = false;
    for (size_t i = 0; i < types.size(); ++i) {
      std::string t = types[i].IsScalar() ? types[i].Scalar() : "";
      if (t == "Ingress") {
        np.affects_ingress = true;
      } else if (t == "Egress") {
        np.affects_egress = true;
      } else {
        p->push_back({absl::StrCat("spec.policyTypes[", i, "]"),
                      absl::StrCat("\"", t, "\" is not Ingress or Egress")});
      }
    }
  } else {
    // Upstream defaulting: Ingress always; Egress when there are egress rules.
    np.affects_ingress = true;
    np.affects_egress = !np.egress.empty();
  }
  if (p->size() != before) {
    return std::nullopt;
  }
  return np;
}

}  // namespace probesnat::policy
