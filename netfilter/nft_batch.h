#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;

namespace probesnat::netfilter {

// One nf_tables transaction: messages framed by NFNL_MSG_BATCH_BEGIN/END that the kernel applies
// all together or not at all. Every message asks for an ack and carries its own sequence number,
// remembered with a label naming the object it concerns ("rule 2 in chain inet probesnat
// nat_output"), so that a refusal can be reported by name.
//
// A batch may be bound to a ruleset generation (NFNL_BATCH_GENID in its BEGIN message): the
// kernel then applies it only if the ruleset is still at that generation, and otherwise refuses
// it as a whole, before looking at any message (NftSocket::Commit says ABORTED).
class NftBatch {
 public:
  explicit NftBatch(uint32_t first_seq, std::optional<uint32_t> generation = std::nullopt);

  // Appends one message; `build_payload` fills in the attributes after the nfgenmsg header and
  // must not write more than `max_bytes` in all.
  void Add(uint16_t nft_msg_type, uint16_t family, uint16_t nlm_flags, std::string label,
           absl::FunctionRef<void(nlmsghdr*)> build_payload, size_t max_bytes);

  void AddTable(uint16_t nft_msg_type, uint16_t nlm_flags, const nftnl_table* table,
                std::string label);
  void AddChain(uint16_t nft_msg_type, uint16_t nlm_flags, const nftnl_chain* chain,
                std::string label);
  void AddRule(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_rule* rule, std::string label);
  void AddSet(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_set* set, std::string label);
  // Elements held by `set` (which also names table and set).
  void AddSetElems(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_set* set, std::string label);

  bool empty() const { return labels_.empty(); }
  size_t message_count() const { return labels_.size(); }
  // Sequence numbers of the framed messages are [first_seq()+1, first_seq()+message_count()].
  uint32_t first_seq() const { return first_seq_; }
  const std::optional<uint32_t>& generation() const { return generation_; }
  // Seq after the END marker; the next batch on the same socket may start here.
  uint32_t end_seq() const { return first_seq_ + static_cast<uint32_t>(labels_.size()) + 1; }
  // Label of the message with sequence number `seq`, or empty.
  absl::string_view LabelOf(uint32_t seq) const;

  // The bytes to send: BEGIN, the messages, END.
  absl::string_view Finish();

 private:
  uint32_t first_seq_;
  std::optional<uint32_t> generation_;
  std::string bytes_;
  std::vector<std::string> labels_;
  bool finished_ = false;
};

}  // namespace probesnat::netfilter
