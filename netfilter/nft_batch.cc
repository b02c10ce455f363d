#include "netfilter/nft_batch.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include <array>

namespace probesnat::netfilter {
namespace {

// Upper bounds of message sizes, so that a message is built in place in the batch buffer
// (libnftnl writes attributes without bounds checks).
constexpr size_t kObjectBytes = 2048;  // a table, chain or set definition
constexpr size_t kPerExpressionBytes = 256;
constexpr size_t kPerElementBytes = 256;  // a key up to 64 bytes, its nest and flags

size_t ExpressionCount(const nftnl_rule* rule) {
  size_t n = 0;
  nftnl_expr_iter* it = nftnl_expr_iter_create(rule);
  while (nftnl_expr_iter_next(it) != nullptr) {
    ++n;
  }
  nftnl_expr_iter_destroy(it);
  return n;
}

size_t ElementCount(const nftnl_set* set) {
  size_t n = 0;
  nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(set);
  while (nftnl_set_elems_iter_next(it) != nullptr) {
    ++n;
  }
  nftnl_set_elems_iter_destroy(it);
  return n;
}

}  // namespace

NftBatch::NftBatch(uint32_t first_seq, std::optional<uint32_t> generation)
    : first_seq_(first_seq), generation_(generation) {
  alignas(nlmsghdr) std::array<char, MNL_NLMSG_HDRLEN + 64> begin{};
  // What nftnl_batch_begin() writes, plus the generation attribute (big-endian, like every
  // nfnetlink integer).
  nlmsghdr* nlh = mnl_nlmsg_put_header(begin.data());
  nlh->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = first_seq_;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
  if (generation_.has_value()) {
    mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(*generation_));
  }
  bytes_.append(reinterpret_cast<const char*>(nlh), MNL_ALIGN(nlh->nlmsg_len));
}

void NftBatch::Add(uint16_t nft_msg_type, uint16_t family, uint16_t nlm_flags, std::string label,
                   absl::FunctionRef<void(nlmsghdr*)> build_payload, size_t max_bytes) {
  labels_.push_back(std::move(label));
  uint32_t seq = first_seq_ + static_cast<uint32_t>(labels_.size());
  // Messages are 4-byte aligned and so is every offset in the buffer.
  const size_t offset = bytes_.size();
  bytes_.resize(offset + max_bytes);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(bytes_.data() + offset, nft_msg_type, family,
                                        nlm_flags | NLM_F_ACK, seq);
  build_payload(nlh);
  bytes_.resize(offset + MNL_ALIGN(nlh->nlmsg_len));
}

void NftBatch::AddTable(uint16_t nft_msg_type, uint16_t nlm_flags, const nftnl_table* table,
                        std::string label) {
  Add(
      nft_msg_type, nftnl_table_get_u32(table, NFTNL_TABLE_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, table); }, kObjectBytes);
}

void NftBatch::AddChain(uint16_t nft_msg_type, uint16_t nlm_flags, const nftnl_chain* chain,
                        std::string label) {
  Add(
      nft_msg_type, nftnl_chain_get_u32(chain, NFTNL_CHAIN_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, chain); }, kObjectBytes);
}

void NftBatch::AddRule(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_rule* rule,
                       std::string label) {
  Add(
      nft_msg_type, nftnl_rule_get_u32(rule, NFTNL_RULE_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, rule); },
      kObjectBytes + kPerExpressionBytes * ExpressionCount(rule));
}

void NftBatch::AddSet(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_set* set,
                      std::string label) {
  Add(
      nft_msg_type, nftnl_set_get_u32(set, NFTNL_SET_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_set_nlmsg_build_payload(nlh, set); }, kObjectBytes);
}

void NftBatch::AddSetElems(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_set* set,
                           std::string label) {
  Add(
      nft_msg_type, nftnl_set_get_u32(set, NFTNL_SET_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_set_elems_nlmsg_build_payload(nlh, set); },
      kObjectBytes + kPerElementBytes * ElementCount(set));
}

absl::string_view NftBatch::LabelOf(uint32_t seq) const {
  if (seq <= first_seq_ || seq > first_seq_ + labels_.size()) {
    return {};
  }
  return labels_[seq - first_seq_ - 1];
}

absl::string_view NftBatch::Finish() {
  if (!finished_) {
    alignas(nlmsghdr) std::array<char, MNL_NLMSG_HDRLEN + 64> end{};
    const nlmsghdr* nlh = nftnl_batch_end(end.data(), end_seq());
    bytes_.append(reinterpret_cast<const char*>(nlh), MNL_ALIGN(nlh->nlmsg_len));
    finished_ = true;
  }
  return bytes_;
}

}  // namespace probesnat::netfilter
