#include "agent/daemon/peer_credentials.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace probesnat::daemon {

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
    return absl::InternalError(absl::StrCat("SO_PEERCRED: ", std::strerror(errno)));
  }
  PeerCredentials peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  std::vector<gid_t> groups(64);
  len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
    if (errno == ERANGE) {
      groups.resize(len / sizeof(gid_t) + 1);
      len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
        len = 0;
      }
    } else {
      len = 0;  // without the supplementary groups only the uid and primary gid decide
    }
  }
  groups.resize(len / sizeof(gid_t));
  peer.groups = std::move(groups);
  return peer;
}

bool AllowedPeers::Allows(const PeerCredentials& peer) const {
  if (peer.uid == 0 || std::find(uids.begin(), uids.end(), peer.uid) != uids.end()) {
    return true;
  }
  for (gid_t g : gids) {
    if (peer.gid == g ||
        std::find(peer.groups.begin(), peer.groups.end(), g) != peer.groups.end()) {
      return true;
    }
  }
  return false;
}

std::string AllowedPeers::Describe() const {
  std::vector<uid_t> all = {0};
  all.insert(all.end(), uids.begin(), uids.end());
  std::string out = absl::StrCat("uids ", absl::StrJoin(all, ","));
  if (!gids.empty()) {
    absl::StrAppend(&out, "; gids ", absl::StrJoin(gids, ","));
  }
  return out;
}

}  // namespace probesnat::daemon
