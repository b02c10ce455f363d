#pragma once

#include <string>
#include <vector>

#include "base/ip_address.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::daemon {

// A pod that passed validation: the request as given plus its parsed addresses.
struct DesiredPod {
  v1::Pod pod;
  std::vector<IpAddress> ips;  // sorted, at most one per family

  const std::string& uid() const { return pod.uid(); }
  const std::string& netns_path() const { return pod.netns_path(); }
};

}  // namespace probesnat::daemon
