#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/daemon/desired_pod.h"
#include "agent/daemon/testing/fake_backend.h"
#include "agent/daemon/testing/ip_literal.h"
#include "gtest/gtest.h"

namespace probesnat::daemon::testing {

// A pod as validation hands it over: its namespace opened through the fake, as the daemon opens it
// through the backend.
inline DesiredPod PodIn(FakeBackend& fake, const std::string& uid,
                        const std::vector<std::string>& ips, const std::string& netns) {
  DesiredPod p;
  p.spec.uid = uid;
  p.spec.ns = "default";
  p.spec.name = "pod-" + uid;
  p.spec.netns_path = netns;
  for (const std::string& ip : ips) {
    p.spec.ips.push_back(Ip(ip));
  }
  std::sort(p.spec.ips.begin(), p.spec.ips.end());
  absl::StatusOr<netfilter::NetnsHandle> handle = fake.OpenPodNetns(netns);
  EXPECT_TRUE(handle.ok()) << handle.status();
  if (handle.ok()) {
    p.netns = *handle;
  }
  return p;
}

}  // namespace probesnat::daemon::testing
