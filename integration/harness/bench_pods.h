#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netfilter/testing/scoped_netns.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::integration {

// N throwaway pod namespaces and the Enroll specs naming them (one IPv4 address from
// 10.<octet>.0.0/16 on each namespace's loopback, one IPv6 address), for benchmarks. The
// namespaces go with the object.
struct BenchPods {
  std::vector<netfilter::testing::ScopedNetns> namespaces;
  std::vector<probesnat::v1::Pod> specs;
};
absl::StatusOr<BenchPods> CreateBenchPods(int n, const std::string& label, int octet);

}  // namespace probesnat::integration
