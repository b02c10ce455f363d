#pragma once

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/netns_id.h"
#include "base/unique_fd.h"

namespace probesnat::netfilter {

// Opens the network namespace file at `path` (a bind mount under /run/netns, /proc/PID/ns/net,
// ...) without ever blocking: the path is first opened with O_PATH (a FIFO, device or socket put
// there is not opened for I/O), the file is checked to be an nsfs file, and only that very file
// is then opened for use (through /proc/self/fd, not the path again). Symlinks are followed, so
// two paths may name one namespace: compare namespaces by NetnsId, never by path.
//   NOT_FOUND            nothing at path
//   INVALID_ARGUMENT     path exists but is not a network namespace (or is not a valid path)
//   FAILED_PRECONDITION  the agent may not open it (EACCES/EPERM; the message names the missing
//                        capability, CAP_SYS_PTRACE for another uid's /proc/<pid>/ns/net)
//   UNAVAILABLE, RESOURCE_EXHAUSTED  transient kernel errors (base/errno_status.h)
absl::StatusOr<UniqueFd> OpenNetns(const std::string& path);

// Like OpenNetns, for a path that must stay beneath the directory `root` (a network namespace root
// the agent is configured with; symlinks in `root` itself are followed, it is configuration). The
// part of `path` below `root` is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS) (a component-wise O_NOFOLLOW walk where openat2 is missing), so no
// symlink and no `..` leads out of `root`; the file found is opened once, O_PATH (never blocks),
// checked (nsfs, NS_GET_NSTYPE = network) and that same file is what the descriptor reaches. Under
// root "/proc" only <pid>/ns/net and <pid>/task/<tid>/ns/net are accepted: the directory
// <pid>/ns is resolved without symlinks and its "net" entry (a magic link to the process's
// namespace) is followed from that directory's descriptor, so a pid that exits mid-way fails
// (NOT_FOUND) rather than naming another process's namespace.
//   INVALID_ARGUMENT     `path` is not beneath `root`, or a symlink is on the way; else as OpenNetns
absl::StatusOr<UniqueFd> OpenNetnsBeneath(const std::string& root, const std::string& path);

// The identity of the namespace `netns_fd` reaches.
absl::StatusOr<NetnsId> IdentifyNetns(int netns_fd);

// An open network namespace: the descriptor reaches the namespace whatever later happens to the
// path it was opened by (the process behind /proc/PID/ns/net exits, its pid is reused, a bind
// mount is replaced), and keeps the namespace alive while any copy of the handle exists.
struct NetnsHandle {
  std::shared_ptr<const UniqueFd> fd;  // null only in test fakes
  NetnsId id;
  std::string path;  // the path it was opened by, for messages

  int get() const { return fd ? fd->get() : -1; }
};

// OpenNetns + IdentifyNetns.
absl::StatusOr<NetnsHandle> OpenNetnsHandle(const std::string& path);
// OpenNetnsBeneath + IdentifyNetns.
absl::StatusOr<NetnsHandle> OpenNetnsHandleBeneath(const std::string& root, const std::string& path);

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
