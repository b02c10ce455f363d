#include "agent/policy/pod_convert.h"

namespace probesnat::policy {

absl::StatusOr<Pod> PodFromSpec(const agent::PodSpec& spec) {
  if (spec.ns.empty() || spec.name.empty()) {
    return absl::InvalidArgumentError("pod.namespace and pod.name are required");
  }
  Pod pod;
  pod.ns = spec.ns;
  pod.name = spec.name;
  pod.uid = spec.uid;
  pod.labels = Labels(spec.labels.begin(), spec.labels.end());
  pod.ips = spec.ips;
  for (const agent::ContainerPort& cp : spec.container_ports) {
    pod.ports.push_back({cp.name, cp.port, cp.protocol});
  }
  for (uint16_t port : spec.probe_ports) {
    pod.probes.push_back({port, ""});
  }
  return pod;
}

agent::PodSpec SpecFromPod(const Pod& pod) {
  agent::PodSpec spec;
  spec.uid = pod.uid;
  spec.ns = pod.ns;
  spec.name = pod.name;
  spec.labels.insert(pod.labels.begin(), pod.labels.end());
  spec.ips = pod.ips;
  for (const ContainerPort& cp : pod.ports) {
    spec.container_ports.push_back({cp.name, static_cast<uint16_t>(cp.port), cp.protocol});
  }
  for (int port : pod.ProbePorts()) {
    spec.probe_ports.push_back(static_cast<uint16_t>(port));
  }
  return spec;
}

}  // namespace probesnat::policy
