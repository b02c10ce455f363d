#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace probesnat::daemon {

// Who connected to a unix socket, as the kernel recorded it at connect() (SO_PEERCRED, and the
// supplementary groups from SO_PEERGROUPS).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd);

// Which peers may call the agent over its unix socket: uid 0 always, plus these uids, plus any
// process whose primary or supplementary group is one of these gids.
struct AllowedPeers {
  std::vector<uid_t> uids;
  std::vector<gid_t> gids;

  bool Allows(const PeerCredentials& peer) const;
  // "uid 0, 1000; gids 2000" for log lines.
  std::string Describe() const;
};

}  // namespace probesnat::daemon
