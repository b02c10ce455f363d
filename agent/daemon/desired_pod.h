#pragma once

#include <string>

#include "agent/domain/pod_spec.h"
#include "netfilter/netns.h"

namespace probesnat::daemon {

// A pod that passed validation: its spec, and its network namespace, opened once by validation
// (by the path the spec names) and used from then on: the path is never resolved again to write.
struct DesiredPod {
  agent::PodSpec spec;
  netfilter::NetnsHandle netns;

  const std::string& uid() const { return spec.uid; }
  const std::string& netns_path() const { return spec.netns_path; }
};

}  // namespace probesnat::daemon
