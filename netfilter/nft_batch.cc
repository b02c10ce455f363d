#include "netfilter/nft_batch.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>

#include <array>

namespace probesnat::netfilter {
namespace {

// Large enough for any single message we build (a rule is a few hundred bytes; set element
// messages carry one element each).
constexpr size_t kScratchSize = 16384;

}  // namespace

NftBatch::NftBatch(uint32_t first_seq) : first_seq_(first_seq) {
  alignas(nlmsghdr) std::array<char, MNL_NLMSG_HDRLEN + 64> begin{};
  Append(nftnl_batch_begin(begin.data(), first_seq_));
}

void NftBatch::Append(const nlmsghdr* nlh) {
  bytes_.append(reinterpret_cast<const char*>(nlh), MNL_ALIGN(nlh->nlmsg_len));
}

void NftBatch::Add(uint16_t nft_msg_type, uint16_t family, uint16_t nlm_flags, std::string label,
                   absl::FunctionRef<void(nlmsghdr*)> build_payload) {
  alignas(nlmsghdr) static thread_local std::array<char, kScratchSize> scratch;
  labels_.push_back(std::move(label));
  uint32_t seq = first_seq_ + static_cast<uint32_t>(labels_.size());
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(scratch.data(), nft_msg_type, family, nlm_flags | NLM_F_ACK, seq);
  build_payload(nlh);
  Append(nlh);
}

void NftBatch::AddTable(uint16_t nft_msg_type, uint16_t nlm_flags, const nftnl_table* table,
                        std::string label) {
  Add(nft_msg_type, nftnl_table_get_u32(table, NFTNL_TABLE_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, table); });
}

void NftBatch::AddChain(uint16_t nft_msg_type, uint16_t nlm_flags, const nftnl_chain* chain,
                        std::string label) {
  Add(nft_msg_type, nftnl_chain_get_u32(chain, NFTNL_CHAIN_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, chain); });
}

void NftBatch::AddRule(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_rule* rule,
                       std::string label) {
  Add(nft_msg_type, nftnl_rule_get_u32(rule, NFTNL_RULE_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, rule); });
}

void NftBatch::AddSet(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_set* set,
                      std::string label) {
  Add(nft_msg_type, nftnl_set_get_u32(set, NFTNL_SET_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_set_nlmsg_build_payload(nlh, set); });
}

void NftBatch::AddSetElems(uint16_t nft_msg_type, uint16_t nlm_flags, nftnl_set* set,
                           std::string label) {
  Add(nft_msg_type, nftnl_set_get_u32(set, NFTNL_SET_FAMILY), nlm_flags, std::move(label),
      [&](nlmsghdr* nlh) { nftnl_set_elems_nlmsg_build_payload(nlh, set); });
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
    Append(nftnl_batch_end(end.data(), end_seq()));
    finished_ = true;
  }
  return bytes_;
}

}  // namespace probesnat::netfilter
