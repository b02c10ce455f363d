#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"

namespace probesnat::integration {

// Where the prometheus binary is: $PROMETHEUS, else /usr/bin/prometheus (Debian's package).
std::string PrometheusPath();

// A real Prometheus server, run as `ip netns exec <netns> prometheus` with a scrape config of
// its own on 127.0.0.1:<port> of that namespace, its data in a private temporary directory.
// The destructor stops it (SIGTERM, then SIGKILL after 5 s) and removes the directory.
class PrometheusServer {
 public:
  struct Options {
    std::string netns;               // name under /run/netns
    uint16_t port = 9090;            // web and API port on 127.0.0.1 inside the namespace
    std::vector<std::string> targets;  // host:port to scrape as job "probesnat"
    absl::Duration scrape_interval = absl::Seconds(1);
    absl::Duration ready_timeout = absl::Seconds(30);
  };
  struct Sample {
    std::map<std::string, std::string> labels;  // __name__ included
    double value = 0;
  };

  // Starts it and waits until /-/ready answers 200.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(const Options& options);
  ~PrometheusServer();

  // An instant query through /api/v1/query; the vector it returns.
  absl::StatusOr<std::vector<Sample>> Query(const std::string& promql);
  // The value of a query that must return exactly one series.
  absl::StatusOr<double> QueryOne(const std::string& promql);
  std::string Log() const;

 private:
  PrometheusServer() = default;

  pid_t pid_ = -1;
  std::string dir_;
  uint16_t port_ = 0;
  UniqueFd netns_fd_;
};

}  // namespace probesnat::integration
