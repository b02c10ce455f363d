#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"
#include "netfilter/nft_batch.h"

namespace probesnat::netfilter {

// A NETLINK_NETFILTER socket bound to one network namespace (the one it was created in), speaking
// nf_tables. `where` names that namespace in every error ("host namespace",
// "namespace /run/netns/x"). Not thread-safe; one user at a time.
class NftSocket {
 public:
  // A socket in the calling thread's network namespace.
  static absl::StatusOr<NftSocket> Open(std::string where);
  // A socket in the namespace `netns_fd` refers to (created by a short-lived thread inside it).
  static absl::StatusOr<NftSocket> OpenIn(int netns_fd, std::string where);

  NftSocket(NftSocket&&) = default;
  NftSocket& operator=(NftSocket&&) = default;

  const std::string& where() const { return where_; }
  // Gives up the descriptor (e.g. to close it elsewhere); the socket is unusable afterwards.
  UniqueFd ReleaseFd() && { return std::move(fd_); }

  // A batch whose sequence numbers continue this socket's, bound to ruleset `generation` if given
  // (NftTableState::generation).
  NftBatch NewBatch(std::optional<uint32_t> generation = std::nullopt) const {
    return NftBatch(next_seq_, generation);
  }

  // Sends the batch as one transaction and reads the kernel's answer to every message. On
  // refusal returns UNAVAILABLE naming each refused object, the errno text and the kernel's
  // extended-ack message if any, and the namespace. ABORTED (nothing applied) if the batch is
  // bound to a generation and the ruleset has changed since: read again and retry. The socket
  // stays usable after either.
  absl::Status Commit(NftBatch& batch);

  // Sends one GET request (NLM_F_DUMP in `nlm_flags` for a dump) and hands every reply message to
  // `on_reply`. NOT_FOUND if the kernel answers ENOENT (the object does not exist), ABORTED if
  // the ruleset changed during a dump (retry), UNAVAILABLE for other failures.
  absl::Status Request(uint16_t nft_msg_type, uint16_t family, uint16_t nlm_flags,
                       absl::string_view what, absl::FunctionRef<void(nlmsghdr*)> build_payload,
                       absl::FunctionRef<absl::Status(const nlmsghdr*)> on_reply);

 private:
  NftSocket(UniqueFd fd, std::string where);
  static absl::StatusOr<NftSocket> Configure(UniqueFd fd, std::string where);
  void DrainStale();
  absl::Status SendAll(absl::string_view bytes, absl::string_view what);
  void ReserveAnswerRoom(size_t messages);

  UniqueFd fd_;
  std::string where_;
  uint32_t next_seq_ = 0;
  std::vector<char> rx_;
  size_t receive_buffer_bytes_ = 0;  // as last asked of the kernel
};

// The netlink messages one recv() returned, in order, each whole: the walk stops at a message
// shorter than its header (an NLMSG_ERROR shorter than nlmsgerr) or longer than what is left.
std::vector<const nlmsghdr*> SplitNetlinkMessages(const void* buffer, size_t size);

}  // namespace probesnat::netfilter
