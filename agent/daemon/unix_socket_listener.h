#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "agent/daemon/peer_credentials.h"
#include "base/unique_fd.h"

namespace probesnat::daemon {

// A listening unix stream socket at a path that hands each connection of an allowed peer
// (SO_PEERCRED, AllowedPeers) to a callback and closes the others, logging who was refused.
// Connections queue in the backlog from Bind() until Start().
class UnixSocketListener {
 public:
  // Creates missing directories (0700), makes `path` usable (PrepareSocketPath), binds it with mode
  // 0600 and listens. The caller holds the run-directory lock, so a socket file found at the path
  // is a stale one of a previous agent.
  static absl::StatusOr<std::unique_ptr<UnixSocketListener>> Bind(const std::string& path);
  ~UnixSocketListener();
  UnixSocketListener(const UnixSocketListener&) = delete;
  UnixSocketListener& operator=(const UnixSocketListener&) = delete;

  // Accepts on a thread of its own; `on_accept` takes ownership of each allowed, non-blocking fd.
  void Start(AllowedPeers allowed, std::function<void(int fd)> on_accept);
  // Stops accepting (joins the thread); queued connections are dropped at Close().
  void Stop();
  // Stop(), closes the listening socket and removes the socket file if it is still the one bound
  // here (same device and inode).
  void Close();

  const std::string& path() const { return path_; }

 private:
  UnixSocketListener() = default;
  void AcceptLoop(const AllowedPeers& allowed, const std::function<void(int fd)>& on_accept);

  std::string path_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;    // eventfd that ends the accept loop
  bool bound_ = false;  // the path is ours until Close()
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::thread thread_;
};

// Makes `socket_path` usable for a new listener: removes a stale socket file owned by this user or
// root that no one answers on; refuses a path that is not a socket, a socket owned by someone else,
// or one a server answers on. The directory must exist.
absl::Status PrepareSocketPath(const std::string& socket_path);

}  // namespace probesnat::daemon
