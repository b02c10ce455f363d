#include "integration/harness/latency_stats.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace probesnat::integration {

LatencyStats Summarize(std::vector<double> ms) {
  LatencyStats s;
  if (ms.empty()) {
    return s;
  }
  for (double v : ms) {
    s.total += v;
  }
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(ms.size()) + 0.999999);
    return ms[std::min(ms.size(), std::max<size_t>(i, 1)) - 1];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.max = ms.back();
  s.count = ms.size();
  return s;
}

std::vector<double> LoggedLatenciesMs(const std::string& log, const std::string& marker) {
  std::vector<double> ms;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (line.find(marker) == absl::string_view::npos) {
      continue;
    }
    size_t pos = line.find(" latency=");
    if (pos == absl::string_view::npos) {
      continue;
    }
    absl::string_view rest = line.substr(pos + 9);
    size_t end = rest.find("us");
    double us = 0;
    if (end != absl::string_view::npos && absl::SimpleAtod(rest.substr(0, end), &us)) {
      ms.push_back(us / 1000.0);
    }
  }
  return ms;
}

}  // namespace probesnat::integration
