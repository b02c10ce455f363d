#include "agent/policy/proto_convert.h"

#include "absl/strings/str_cat.h"

namespace probesnat::policy {

absl::StatusOr<Pod> PodFromProto(const v1::Pod& in) {
  if (in.namespace_().empty() || in.name().empty()) {
    return absl::InvalidArgumentError("pod.namespace and pod.name are required");
  }
  Pod pod;
  pod.ns = in.namespace_();
  pod.name = in.name();
  pod.uid = in.uid();
  pod.labels = Labels(in.labels().begin(), in.labels().end());
  for (const std::string& s : in.ips()) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(s);
    if (!ip.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("pod.ips: ", ip.status().message()));
    }
    pod.ips.push_back(*ip);
  }
  for (const v1::ContainerPort& cp : in.container_ports()) {
    if (cp.port() < 1 || cp.port() > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod.container_ports: port ", cp.port(), " is outside 1-65535"));
    }
    std::optional<Protocol> proto =
        cp.protocol().empty() ? Protocol::kTCP : ParseProtocol(cp.protocol());
    if (!proto) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod.container_ports: unsupported protocol \"", cp.protocol(), "\""));
    }
    pod.ports.push_back({cp.name(), static_cast<int>(cp.port()), *proto});
  }
  for (uint32_t p : in.probe_ports()) {
    if (p < 1 || p > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod.probe_ports: ", p, " is outside 1-65535"));
    }
    pod.probes.push_back({static_cast<int>(p), ""});
  }
  return pod;
}

v1::Pod PodToProto(const Pod& p) {
  v1::Pod out;
  out.set_uid(p.uid);
  out.set_namespace_(p.ns);
  out.set_name(p.name);
  for (const auto& [k, v] : p.labels) {
    (*out.mutable_labels())[k] = v;
  }
  for (const IpAddress& ip : p.ips) {
    out.add_ips(ip.ToString());
  }
  for (const ContainerPort& cp : p.ports) {
    v1::ContainerPort* c = out.add_container_ports();
    c->set_name(cp.name);
    c->set_port(cp.port);
    c->set_protocol(std::string(ProtocolName(cp.protocol)));
  }
  for (int port : p.ProbePorts()) {
    out.add_probe_ports(static_cast<uint32_t>(port));
  }
  return out;
}

v1::Finding FindingToProto(const Finding& f) {
  Finding copy = f;
  return FindingToProto(std::move(copy));
}

v1::Finding FindingToProto(Finding&& f) {
  v1::Finding out;
  out.set_severity(static_cast<v1::Severity>(static_cast<int>(f.severity)));
  out.set_kind(static_cast<v1::FindingKind>(static_cast<int>(f.kind)));
  out.set_policy_namespace(f.policy_namespace);
  out.set_policy_name(f.policy_name);
  out.set_rule_index(f.rule_index);
  out.set_direction(std::string(DirectionName(f.direction)));
  out.set_message(std::move(f.message));
  out.mutable_affected_peers()->Reserve(static_cast<int>(f.affected_peers.size()));
  for (std::string& p : f.affected_peers) {
    out.add_affected_peers(std::move(p));
  }
  out.set_cni_dependent(f.cni_dependent);
  out.set_fix_yaml(std::move(f.fix_yaml));
  out.set_subject(std::move(f.subject));
  return out;
}

}  // namespace probesnat::policy
