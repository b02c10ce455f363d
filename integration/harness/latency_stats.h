#pragma once

#include <string>
#include <vector>

namespace probesnat::integration {

// Percentiles of a set of latencies, in milliseconds (nearest rank; all 0 for an empty set).
struct LatencyStats {
  double p50 = 0, p99 = 0, max = 0, total = 0;
  size_t count = 0;
};
LatencyStats Summarize(std::vector<double> ms);

// The latency=NNNus probesnatd logs on each line of `log` that contains `marker` (its own
// measurement, without the gRPC transport), in milliseconds.
std::vector<double> LoggedLatenciesMs(const std::string& log, const std::string& marker);

}  // namespace probesnat::integration
