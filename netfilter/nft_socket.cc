#include "netfilter/nft_socket.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/errno_status.h"
#include "base/errno_text.h"
#include "netfilter/netns.h"

namespace probesnat::netfilter {

using base::ErrnoOrigin;
using base::ErrnoStatus;
using base::ErrnoStatusCode;
using base::ErrnoText;

namespace {

constexpr absl::string_view kNetAdminHint =
    "nftables needs CAP_NET_ADMIN in the namespace, which the agent lacks";

constexpr size_t kReceiveBufferSize = 65536;
constexpr int kSocketBufferBytes = 4 << 20;
// What one queued ack costs in the receive buffer's accounting (the skb's true size), rounded up.
// The kernel queues every ack of a batch while sendmsg() runs, before we read any.
constexpr size_t kReceiveBytesPerAck = 1024;
// The kernel answers a batch synchronously while sendmsg() runs; this only bounds a missing answer.
constexpr int kAnswerTimeoutMs = 2000;

// The kernel's extended-ack text (NLMSGERR_ATTR_MSG) of an NLMSG_ERROR message, if any.
std::string ExtackMessage(const nlmsghdr* nlh) {
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
    return {};
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  size_t offset = MNL_NLMSG_HDRLEN + sizeof(nlmsgerr);
  if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
    offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  }
  if (offset >= nlh->nlmsg_len) {
    return {};
  }
  const char* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
  const auto* attr = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(nlh) + offset);
  while (reinterpret_cast<const char*>(attr) + sizeof(nlattr) <= end &&
         mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr)))) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
        mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
      return mnl_attr_get_str(attr);
    }
    attr = mnl_attr_next(attr);
  }
  return {};
}

}  // namespace

NftSocket::NftSocket(UniqueFd fd, std::string where)
    : fd_(std::move(fd)),
      where_(std::move(where)),
      rx_(kReceiveBufferSize),
      receive_buffer_bytes_(kSocketBufferBytes) {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  next_seq_ = static_cast<uint32_t>(now.tv_nsec ^ now.tv_sec) & 0x7fffffff;
}

absl::StatusOr<NftSocket> NftSocket::Open(std::string where) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  if (!fd.valid()) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                       absl::StrCat("cannot open a netfilter netlink socket in the ", where));
  }
  return Configure(std::move(fd), std::move(where));
}

absl::StatusOr<NftSocket> NftSocket::OpenIn(int netns_fd, std::string where) {
  absl::StatusOr<UniqueFd> fd =
      SocketInNetnsOnCallingThread(netns_fd, AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(),
                        absl::StrCat("cannot open a netfilter netlink socket in the ", where, ": ",
                                     fd.status().message()));
  }
  return Configure(*std::move(fd), std::move(where));
}

absl::StatusOr<NftSocket> NftSocket::Configure(UniqueFd fd, std::string where) {
  int one = 1;
  // Acks carry only the header of the refused message, plus the kernel's text if it has one.
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  int bytes = kSocketBufferBytes;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                       absl::StrCat("cannot bind a netfilter netlink socket in the ", where));
  }
  // Connected to the kernel (portid 0): the kernel then refuses (ECONNREFUSED) messages another
  // process sends to this socket's portid, so every answer read here comes from the kernel; a
  // process in a pod's namespace cannot forge the read-back of its table.
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) != 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                       absl::StrCat("cannot connect a netfilter netlink socket in the ", where));
  }
  return NftSocket(std::move(fd), std::move(where));
}

// A batch of more messages than the receive buffer holds acks for would lose some (ENOBUFS) and
// leave its outcome unknown: the buffer grows to fit the batch first.
void NftSocket::ReserveAnswerRoom(size_t messages) {
  const size_t wanted = messages * kReceiveBytesPerAck;
  if (wanted <= receive_buffer_bytes_ || wanted > static_cast<size_t>(INT32_MAX / 2)) {
    return;
  }
  int bytes = static_cast<int>(wanted);
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  receive_buffer_bytes_ = wanted;
}

void NftSocket::DrainStale() {
  while (::recv(fd_.get(), rx_.data(), rx_.size(), MSG_DONTWAIT) > 0) {
  }
}

absl::Status NftSocket::SendAll(absl::string_view bytes, absl::string_view what) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd_.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                       absl::StrCat("cannot send ", what, " to the kernel in the ", where_),
                       kNetAdminHint);
  }
  if (static_cast<size_t>(sent) != bytes.size()) {
    return absl::UnavailableError(
        absl::StrCat("short send of ", what, " to the kernel in the ", where_));
  }
  return absl::OkStatus();
}

absl::Status NftSocket::Commit(NftBatch& batch) {
  if (batch.empty()) {
    return absl::OkStatus();
  }
  DrainStale();
  ReserveAnswerRoom(batch.message_count() + 1);
  absl::string_view bytes = batch.Finish();
  next_seq_ = batch.end_seq() + 1;
  if (absl::Status st = SendAll(bytes, "an nftables transaction"); !st.ok()) {
    return st;
  }

  const uint32_t first = batch.first_seq() + 1;
  const size_t count = batch.message_count();
  std::vector<bool> answered(count, false);
  size_t pending = count;
  std::vector<std::string> refusals;
  int batch_errno = 0;  // the batch refused as a whole (EPERM there: no CAP_NET_ADMIN)
  bool stale_generation = false;
  while (pending > 0) {
    ssize_t n = ::recv(fd_.get(), rx_.data(), rx_.size(), MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) {
        continue;
      }
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (!refusals.empty()) {
          break;  // a refused batch is not committed; the remaining answers add nothing
        }
        pollfd p{fd_.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, kAnswerTimeoutMs);
        if (ready > 0 || (ready < 0 && errno == EINTR)) {
          continue;
        }
        return absl::UnavailableError(absl::StrCat(
            "the kernel did not answer ", pending, " of ", count,
            " messages of an nftables transaction in the ", where_, "; its outcome is unknown"));
      }
      return ErrnoStatus(err, ErrnoOrigin::kAgentCall,
                         absl::StrCat("cannot read the kernel's answer in the ", where_));
    }
    for (const nlmsghdr* nlh : SplitNetlinkMessages(rx_.data(), static_cast<size_t>(n))) {
      if (nlh->nlmsg_type != NLMSG_ERROR) {
        continue;
      }
      if (nlh->nlmsg_seq == batch.first_seq()) {
        // The batch as a whole was refused (BEGIN carries the batch's own sequence number).
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error == -ERESTART && batch.generation().has_value()) {
          // Refused before any message was looked at: no other answer follows.
          stale_generation = true;
          pending = 0;
        } else if (err->error != 0) {
          batch_errno = -err->error;
          refusals.push_back(absl::StrCat("the transaction: ", ErrnoText(-err->error)));
          pending = 0;
        }
        continue;
      }
      if (nlh->nlmsg_seq < first || nlh->nlmsg_seq >= first + count) {
        continue;
      }
      size_t index = nlh->nlmsg_seq - first;
      if (answered[index]) {
        continue;
      }
      answered[index] = true;
      --pending;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error != 0) {
        std::string text =
            absl::StrCat(batch.LabelOf(nlh->nlmsg_seq), ": ", ErrnoText(-err->error));
        if (std::string extack = ExtackMessage(nlh); !extack.empty()) {
          absl::StrAppend(&text, " (", extack, ")");
        }
        refusals.push_back(std::move(text));
      }
    }
  }
  if (stale_generation) {
    return absl::AbortedError(absl::StrCat(
        "the ruleset in the ", where_, " changed after generation ", *batch.generation(),
        " was read; the nftables transaction bound to it was not applied"));
  }
  if (!refusals.empty()) {
    // nfnetlink refuses the whole batch (its BEGIN message) with EPERM when the sender lacks
    // CAP_NET_ADMIN: the agent's deployment must change. A refused object (EPERM too for a table
    // another process owns) is a kernel failure: UNAVAILABLE.
    std::string text = absl::StrCat("the kernel refused the nftables transaction in the ", where_,
                                    ": ", absl::StrJoin(refusals, "; "));
    if (batch_errno == EPERM || batch_errno == EACCES) {
      absl::StrAppend(&text, "; ", kNetAdminHint);
    }
    return absl::Status(batch_errno != 0 ? ErrnoStatusCode(batch_errno, ErrnoOrigin::kAgentCall)
                                         : absl::StatusCode::kUnavailable,
                        text);
  }
  return absl::OkStatus();
}

absl::Status NftSocket::Request(uint16_t nft_msg_type, uint16_t family, uint16_t nlm_flags,
                                absl::string_view what,
                                absl::FunctionRef<void(nlmsghdr*)> build_payload,
                                absl::FunctionRef<absl::Status(const nlmsghdr*)> on_reply) {
  DrainStale();
  const uint32_t seq = next_seq_++;
  alignas(nlmsghdr) char request[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* req = nftnl_nlmsg_build_hdr(request, nft_msg_type, family, nlm_flags, seq);
  build_payload(req);
  if (absl::Status st = SendAll(absl::string_view(request, req->nlmsg_len), what); !st.ok()) {
    return st;
  }
  bool interrupted = false;
  while (true) {
    pollfd p{fd_.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, kAnswerTimeoutMs);
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return absl::UnavailableError(
          absl::StrCat("the kernel did not answer a request for ", what, " in the ", where_));
    }
    ssize_t n = ::recv(fd_.get(), rx_.data(), rx_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return ErrnoStatus(errno, ErrnoOrigin::kAgentCall,
                         absl::StrCat("cannot read ", what, " in the ", where_));
    }
    for (const nlmsghdr* nlh : SplitNetlinkMessages(rx_.data(), static_cast<size_t>(n))) {
      if (nlh->nlmsg_seq != seq) {
        continue;
      }
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
        interrupted = true;
      }
      if (nlh->nlmsg_type == NLMSG_DONE) {
        if (interrupted) {
          return absl::AbortedError(
              absl::StrCat("the ruleset changed while reading ", what, " in the ", where_));
        }
        return absl::OkStatus();
      }
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error == 0) {
          return absl::OkStatus();
        }
        if (err->error == -ENOENT) {
          return absl::NotFoundError(absl::StrCat(what, " does not exist in the ", where_));
        }
        if (err->error == -EINTR) {
          return absl::AbortedError(
              absl::StrCat("the ruleset changed while reading ", what, " in the ", where_));
        }
        return ErrnoStatus(-err->error, ErrnoOrigin::kAgentCall,
                           absl::StrCat("the kernel refused to list ", what, " in the ", where_),
                           kNetAdminHint);
      }
      if (absl::Status st = on_reply(nlh); !st.ok()) {
        return st;
      }
      if ((nlh->nlmsg_flags & NLM_F_MULTI) == 0) {
        return absl::OkStatus();
      }
    }
  }
}

std::vector<const nlmsghdr*> SplitNetlinkMessages(const void* buffer, size_t size) {
  std::vector<const nlmsghdr*> messages;
  const char* at = static_cast<const char*>(buffer);
  size_t left = size;
  while (left >= sizeof(nlmsghdr)) {
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(at);
    // mnl_nlmsg_ok() compares the length as an int: one above INT_MAX passed as negative.
    if (nlh->nlmsg_len < sizeof(nlmsghdr) || nlh->nlmsg_len > left) {
      break;
    }
    if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
      break;
    }
    messages.push_back(nlh);
    size_t step = NLMSG_ALIGN(nlh->nlmsg_len);
    if (step >= left) {
      break;
    }
    at += step;
    left -= step;
  }
  return messages;
}

}  // namespace probesnat::netfilter
