#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netfilter/unique_fd.h"

namespace probesnat::netfilter {

// Opens the network namespace file at `path` (a bind mount under /run/netns, /proc/PID/ns/net,
// ...).
//   NOT_FOUND         nothing at path
//   INVALID_ARGUMENT  path exists but is not a network namespace
absl::StatusOr<UniqueFd> OpenNetns(const std::string& path);

// Identity of a network namespace (device and inode of its nsfs file): equal for any two handles
// of the same namespace.
struct NetnsId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const NetnsId&) const = default;
};
absl::StatusOr<NetnsId> IdentifyNetns(int netns_fd);

// Runs `fn` on a dedicated thread that has entered the namespace `netns_fd`, and waits for it. The
// calling thread never changes namespace. The worker returns to its original namespace before it
// ends; if it cannot, the process aborts rather than leave a thread in the wrong namespace. Sockets
// created inside `fn` stay bound to that namespace and may be used from any thread afterwards.
absl::Status RunInNetns(int netns_fd, absl::FunctionRef<absl::Status()> fn);

// Convenience: OpenNetns + RunInNetns.
absl::Status RunInNetns(const std::string& path, absl::FunctionRef<absl::Status()> fn);

// Creates a socket inside the namespace (e.g. a netlink socket for that namespace).
absl::StatusOr<UniqueFd> SocketInNetns(int netns_fd, int domain, int type, int protocol);

// Same result as SocketInNetns, without a helper thread: the calling thread enters the namespace,
// creates the socket and returns at once (nothing else runs on it meanwhile). Saves a thread
// creation and a wake-up, which matter on a loaded node. Aborts the process if the thread cannot
// return to its namespace, like RunInNetns.
absl::StatusOr<UniqueFd> SocketInNetnsOnCallingThread(int netns_fd, int domain, int type,
                                                      int protocol);

}  // namespace probesnat::netfilter
