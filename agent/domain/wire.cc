#include "agent/domain/wire.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/port.h"

namespace probesnat::agent {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace

absl::StatusOr<PodSpec> PodFromWire(const v1::Pod& in, absl::string_view field) {
  PodSpec pod;
  pod.uid = in.uid();
  pod.ns = in.namespace_();
  pod.name = in.name();
  pod.labels.insert(in.labels().begin(), in.labels().end());
  pod.netns_path = in.netns_path();
  for (int i = 0; i < in.ips_size(); ++i) {
    // inet_pton stops at a NUL: "1.2.3.4\0junk" must not pass as 1.2.3.4.
    absl::StatusOr<IpAddress> ip = absl::InvalidArgumentError("");
    if (!absl::StrContains(in.ips(i), '\0')) {
      ip = IpAddress::Parse(in.ips(i));
    }
    if (!ip.ok()) {
      return FieldError(absl::StrCat(field, ".ips[", i, "]"), "not an IP address");
    }
    pod.ips.push_back(*ip);
  }
  std::sort(pod.ips.begin(), pod.ips.end());
  for (int i = 0; i < in.container_ports_size(); ++i) {
    const v1::ContainerPort& cp = in.container_ports(i);
    const std::string item = absl::StrCat(field, ".container_ports[", i, "]");
    if (!IsPort(cp.port())) {
      return FieldError(item + ".port", absl::StrCat(cp.port(), " is not a port number 1-65535"));
    }
    std::optional<Protocol> protocol =
        cp.protocol().empty() ? Protocol::kTCP : ParseProtocol(cp.protocol());
    if (!protocol) {
      return FieldError(item + ".protocol", "not TCP, UDP or SCTP");
    }
    pod.container_ports.push_back({cp.name(), static_cast<uint16_t>(cp.port()), *protocol});
  }
  for (int i = 0; i < in.probe_ports_size(); ++i) {
    if (!IsPort(in.probe_ports(i))) {
      return FieldError(absl::StrCat(field, ".probe_ports[", i, "]"),
                        absl::StrCat(in.probe_ports(i), " is not a port number 1-65535"));
    }
    pod.probe_ports.push_back(static_cast<uint16_t>(in.probe_ports(i)));
  }
  pod.overrides.disable_inbound_capture = in.overrides().disable_inbound_capture();
  pod.overrides.disable_outbound_capture = in.overrides().disable_outbound_capture();
  return pod;
}

v1::Pod PodToWire(const PodSpec& pod) {
  v1::Pod out;
  out.set_uid(pod.uid);
  out.set_namespace_(pod.ns);
  out.set_name(pod.name);
  out.mutable_labels()->insert(pod.labels.begin(), pod.labels.end());
  for (const IpAddress& ip : pod.ips) {
    out.add_ips(ip.ToString());
  }
  out.set_netns_path(pod.netns_path);
  for (const ContainerPort& cp : pod.container_ports) {
    v1::ContainerPort* c = out.add_container_ports();
    c->set_name(cp.name);
    c->set_port(cp.port);
    c->set_protocol(std::string(ProtocolName(cp.protocol)));
  }
  for (uint16_t port : pod.probe_ports) {
    out.add_probe_ports(port);
  }
  if (pod.overrides != PodOverrides{}) {
    out.mutable_overrides()->set_disable_inbound_capture(pod.overrides.disable_inbound_capture);
    out.mutable_overrides()->set_disable_outbound_capture(pod.overrides.disable_outbound_capture);
  }
  return out;
}

v1::PodPhase PhaseToWire(PodPhase phase) {
  switch (phase) {
    case PodPhase::kPending:
      return v1::POD_PHASE_PENDING;
    case PodPhase::kApplied:
      return v1::POD_PHASE_APPLIED;
    case PodPhase::kFailed:
      return v1::POD_PHASE_FAILED;
    case PodPhase::kRemoved:
      return v1::POD_PHASE_REMOVED;
  }
  return v1::POD_PHASE_UNSPECIFIED;
}

v1::PodStatus StateToWire(const PodState& state) {
  v1::PodStatus out;
  *out.mutable_pod() = PodToWire(state.spec);
  out.set_phase(PhaseToWire(state.phase));
  out.set_reason(state.reason);
  for (const Finding& f : state.findings) {
    *out.add_findings() = FindingToWire(f);
  }
  SetTimestamp(state.updated, out.mutable_updated());
  out.set_generation(state.generation);
  return out;
}

v1::Finding FindingToWire(const Finding& f) {
  Finding copy = f;
  return FindingToWire(std::move(copy));
}

v1::Finding FindingToWire(Finding&& f) {
  v1::Finding out;
  out.set_severity(static_cast<v1::Severity>(static_cast<int>(f.severity)));
  out.set_kind(static_cast<v1::FindingKind>(static_cast<int>(f.kind)));
  out.set_policy_namespace(std::move(f.policy_namespace));
  out.set_policy_name(std::move(f.policy_name));
  out.set_rule_index(f.rule_index);
  out.set_direction(std::string(DirectionName(f.direction)));
  out.set_message(std::move(f.message));
  for (std::string& peer : f.affected_peers) {
    out.add_affected_peers(std::move(peer));
  }
  out.set_cni_dependent(f.cni_dependent);
  out.set_fix_yaml(std::move(f.fix_yaml));
  out.set_subject(std::move(f.subject));
  return out;
}

absl::StatusOr<Finding> FindingFromWire(const v1::Finding& wire) {
  Finding f;
  if (wire.severity() < v1::SEVERITY_INFO || wire.severity() > v1::SEVERITY_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("finding.severity: unknown value ", static_cast<int>(wire.severity())));
  }
  if (wire.kind() < v1::FINDING_KIND_HBONE_INGRESS || wire.kind() > v1::FINDING_KIND_NOT_CHECKED) {
    return absl::InvalidArgumentError(
        absl::StrCat("finding.kind: unknown value ", static_cast<int>(wire.kind())));
  }
  if (wire.direction() == DirectionName(Direction::kIngress)) {
    f.direction = Direction::kIngress;
  } else if (wire.direction() == DirectionName(Direction::kEgress)) {
    f.direction = Direction::kEgress;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("finding.direction: \"", wire.direction(),
                                                   "\" is neither ingress nor egress"));
  }
  f.severity = static_cast<Severity>(static_cast<int>(wire.severity()));
  f.kind = static_cast<FindingKind>(static_cast<int>(wire.kind()));
  f.subject = wire.subject();
  f.policy_namespace = wire.policy_namespace();
  f.policy_name = wire.policy_name();
  f.rule_index = wire.rule_index();
  f.message = wire.message();
  f.affected_peers.assign(wire.affected_peers().begin(), wire.affected_peers().end());
  f.cni_dependent = wire.cni_dependent();
  f.fix_yaml = wire.fix_yaml();
  return f;
}

}  // namespace probesnat::agent
