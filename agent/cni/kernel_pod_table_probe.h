#pragma once

#include "agent/cni/agent_client.h"

namespace probesnat::cni {

// PodTableProbe over netlink: opens the namespace (netfilter::OpenNetns) and reads table inet
// probesnat there.
class KernelPodTableProbe : public PodTableProbe {
 public:
  absl::StatusOr<bool> HasPodTable(const std::string& netns_path) override;
};

}  // namespace probesnat::cni
