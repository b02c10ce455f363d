#include "agent/policy/policy_yaml.h"

#include <yaml-cpp/yaml.h>

namespace probesnat::policy {

namespace {

// Written by `kubectl apply` from the object it was given: a corrected policy must not carry the
// old one, or the next apply would diff against the wrong original.
constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";

// Keys and values quoted: a label key or value such as `on`, `null` or `1e3` would otherwise be
// read back as a boolean, null or number by YAML 1.1 readers (the API server's included).
void EmitStringMap(YAML::Emitter& out, const char* key, const Labels& map) {
  bool any = false;
  for (const auto& [k, v] : map) {
    if (k == kLastAppliedAnnotation) {
      continue;
    }
    if (!any) {
      out << YAML::Key << key << YAML::Value << YAML::BeginMap;
      any = true;
    }
    out << YAML::Key << YAML::DoubleQuoted << k << YAML::Value << YAML::DoubleQuoted << v;
  }
  if (any) {
    out << YAML::EndMap;
  }
}

void EmitSelector(YAML::Emitter& out, const LabelSelector& sel) {
  if (sel.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  out << YAML::BeginMap;
  if (!sel.match_labels.empty()) {
    out << YAML::Key << "matchLabels" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : sel.match_labels) {
      out << YAML::Key << YAML::DoubleQuoted << k << YAML::Value << YAML::DoubleQuoted << v;
    }
    out << YAML::EndMap;
  }
  if (!sel.match_expressions.empty()) {
    out << YAML::Key << "matchExpressions" << YAML::Value << YAML::BeginSeq;
    for (const LabelRequirement& r : sel.match_expressions) {
      out << YAML::BeginMap << YAML::Key << "key" << YAML::Value << YAML::DoubleQuoted << r.key;
      out << YAML::Key << "operator" << YAML::Value << std::string(OpName(r.op));
      if (!r.values.empty()) {
        out << YAML::Key << "values" << YAML::Value << YAML::BeginSeq;
        for (const std::string& v : r.values) {
          out << YAML::DoubleQuoted << v;
        }
        out << YAML::EndSeq;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

void EmitPeer(YAML::Emitter& out, const Peer& peer) {
  out << YAML::BeginMap;
  if (peer.ip_block) {
    out << YAML::Key << "ipBlock" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "cidr" << YAML::Value << peer.ip_block->cidr.ToString();
    if (!peer.ip_block->except.empty()) {
      out << YAML::Key << "except" << YAML::Value << YAML::BeginSeq;
      for (const Cidr& e : peer.ip_block->except) {
        out << e.ToString();
      }
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  if (peer.namespace_selector) {
    out << YAML::Key << "namespaceSelector" << YAML::Value;
    EmitSelector(out, *peer.namespace_selector);
  }
  if (peer.pod_selector) {
    out << YAML::Key << "podSelector" << YAML::Value;
    EmitSelector(out, *peer.pod_selector);
  }
  out << YAML::EndMap;
}

void EmitPort(YAML::Emitter& out, const PortSpec& ps) {
  out << YAML::BeginMap;
  if (ps.has_port) {
    out << YAML::Key << "port" << YAML::Value;
    if (ps.named.empty()) {
      out << ps.number;
    } else {
      out << YAML::DoubleQuoted << ps.named;  // a name such as `on` must stay a string
    }
  }
  if (ps.end_port) {
    out << YAML::Key << "endPort" << YAML::Value << *ps.end_port;
  }
  if (ps.protocol_explicit || !ps.has_port) {
    out << YAML::Key << "protocol" << YAML::Value << std::string(ProtocolName(ps.protocol));
  }
  out << YAML::EndMap;
}

void EmitRules(YAML::Emitter& out, const std::vector<Rule>& rules, const char* peers_key) {
  out << YAML::BeginSeq;
  for (const Rule& rule : rules) {
    if (rule.peers.empty() && rule.ports.empty()) {
      out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
      continue;
    }
    out << YAML::BeginMap;
    if (!rule.peers.empty()) {
      out << YAML::Key << peers_key << YAML::Value << YAML::BeginSeq;
      for (const Peer& p : rule.peers) {
        EmitPeer(out, p);
      }
      out << YAML::EndSeq;
    }
    if (!rule.ports.empty()) {
      out << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq;
      for (const PortSpec& p : rule.ports) {
        EmitPort(out, p);
      }
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

}  // namespace

std::string PolicyToYaml(const NetworkPolicy& policy) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "networking.k8s.io/v1";
  out << YAML::Key << "kind" << YAML::Value << "NetworkPolicy";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << policy.name;
  out << YAML::Key << "namespace" << YAML::Value << YAML::DoubleQuoted << policy.ns;
  EmitStringMap(out, "labels", policy.labels);
  EmitStringMap(out, "annotations", policy.annotations);
  out << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "podSelector" << YAML::Value;
  EmitSelector(out, policy.pod_selector);
  if (policy.policy_types_explicit) {
    out << YAML::Key << "policyTypes" << YAML::Value << YAML::BeginSeq;
    if (policy.affects_ingress) {
      out << "Ingress";
    }
    if (policy.affects_egress) {
      out << "Egress";
    }
    out << YAML::EndSeq;
  }
  if (!policy.ingress.empty()) {
    out << YAML::Key << "ingress" << YAML::Value;
    EmitRules(out, policy.ingress, "from");
  }
  if (!policy.egress.empty()) {
    out << YAML::Key << "egress" << YAML::Value;
    EmitRules(out, policy.egress, "to");
  }
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace probesnat::policy
