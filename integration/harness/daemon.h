#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "probesnat/v1/probesnat.grpc.pb.h"

namespace probesnat::integration {

// Where the probesnatd binary is: $PROBESNATD, else the path CMake compiled in, else empty.
std::string ProbesnatdPath();

// The real probesnatd, started as `ip netns exec <node> probesnatd --socket ... <args>` (ip execs,
// so the pid is the daemon's). Its stdout/stderr go to a log file in a private temporary directory,
// which also holds the unix socket. The destructor stops it (SIGTERM, then SIGKILL) and removes the
// directory.
class Daemon {
 public:
  struct Options {
    std::string binary;             // default ProbesnatdPath()
    std::string node_netns;         // name under /run/netns
    std::vector<std::string> args;  // extra flags (--probe-v4 ..., --allowed-netns-root ...)
    // Runs the binary through this command, which must exec it (the pid stays the daemon's):
    // `ip netns exec <node> <exec_prefix...> probesnatd ...`, e.g. setpriv with a bounding set.
    std::vector<std::string> exec_prefix;
    absl::Duration ready_timeout = absl::Seconds(15);
    std::string socket_path;  // default <private directory>/probesnatd.sock
    bool wait_ready = true;   // false: return right after the fork (see WaitReady, WaitExit)
  };

  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const Options& options);
  ~Daemon();

  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_; }
  const std::string& dir() const { return dir_; }
  std::string Log() const;

  // Sends `sig`, waits up to `timeout` for the process to end; SIGKILL after that. Returns the
  // wait status, or an error when the process had to be killed.
  absl::StatusOr<int> Stop(int sig, absl::Duration timeout = absl::Seconds(5));
  // Whether the process is still running.
  bool Running();
  // Waits up to `timeout` for the process to end by itself; its wait status, or DEADLINE_EXCEEDED
  // (the process keeps running).
  absl::StatusOr<int> WaitExit(absl::Duration timeout);
  // Waits until the log says "probesnatd ready on <socket>" and health reports SERVING.
  absl::Status WaitReady(absl::Duration timeout);

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::unique_ptr<probesnat::v1::Enrollment::Stub> Enrollment() const;

  // VmRSS of the daemon in KiB (from /proc/<pid>/status).
  absl::StatusOr<long> RssKib() const;

 private:
  Daemon() = default;

  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::string dir_;
  std::string socket_;
  std::string log_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Calls grpc.health.v1.Health/Check (service "") and returns the serving status (1 = SERVING).
// A non-empty `bearer_token` is sent as "authorization: Bearer <token>" (probesnatd over TCP).
absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                absl::Duration timeout, const std::string& bearer_token = "");

}  // namespace probesnat::integration
