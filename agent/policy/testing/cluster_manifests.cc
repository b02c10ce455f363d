#include "agent/policy/testing/cluster_manifests.h"

#include <yaml-cpp/yaml.h>

#include "agent/policy/policy_yaml.h"

namespace probesnat::policy::testing {
namespace {

std::string PodYaml(const Pod& p) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "apiVersion" << YAML::Value << "v1" << YAML::Key << "kind"
      << YAML::Value << "Pod" << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap
      << YAML::Key << "name" << YAML::Value << p.name << YAML::Key << "namespace" << YAML::Value
      << p.ns << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : p.labels) {
    out << YAML::Key << k << YAML::Value << v;
  }
  out << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap << YAML::Key << "nodeName"
      << YAML::Value << p.node_name << YAML::Key << "hostNetwork" << YAML::Value << p.host_network
      << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key
      << "name" << YAML::Value << "main" << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq;
  for (const ContainerPort& cp : p.ports) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << cp.name << YAML::Key
        << "containerPort" << YAML::Value << cp.port << YAML::Key << "protocol" << YAML::Value
        << std::string(ProtocolName(cp.protocol)) << YAML::EndMap;
  }
  out << YAML::EndSeq;
  for (const ProbeTarget& t : p.probes) {
    out << YAML::Key << "readinessProbe" << YAML::Value << YAML::BeginMap << YAML::Key
        << "tcpSocket" << YAML::Value << YAML::BeginMap << YAML::Key << "port" << YAML::Value;
    if (t.name.empty()) {
      out << t.number;
    } else {
      out << t.name;
    }
    out << YAML::EndMap << YAML::EndMap;
    break;  // one readiness probe per container
  }
  out << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  out << YAML::Key << "status" << YAML::Value << YAML::BeginMap << YAML::Key << "phase"
      << YAML::Value << "Running";
  if (!p.host_ips.empty()) {
    out << YAML::Key << "hostIP" << YAML::Value << p.host_ips[0].ToString();
  }
  if (!p.ips.empty()) {
    out << YAML::Key << "podIP" << YAML::Value << p.ips[0].ToString() << YAML::Key << "podIPs"
        << YAML::Value << YAML::BeginSeq;
    for (const IpAddress& ip : p.ips) {
      out << YAML::BeginMap << YAML::Key << "ip" << YAML::Value << ip.ToString() << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap << YAML::EndMap;
  return out.c_str();
}

}  // namespace

std::string ClusterManifests(const Cluster& c) {
  std::string out;
  for (const Namespace& n : c.namespaces) {
    out += "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + n.name + "\n  labels:\n";
    for (const auto& [k, v] : n.labels) {
      out += "    " + k + ": \"" + v + "\"\n";
    }
  }
  for (const Pod& p : c.pods) {
    out += "---\n" + PodYaml(p) + "\n";
  }
  for (const NetworkPolicy& np : c.policies) {
    out += "---\n" + PolicyToYaml(np);
  }
  return out;
}

}  // namespace probesnat::policy::testing
