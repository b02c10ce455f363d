// libFuzzer: what the kernel answers when the agent reads its tables back, as a stream of netlink
// messages (the bytes of a recv() buffer), through the read-back parser (netfilter/nft_readback.h):
// tables, chains, rules, sets and set elements, then what the agent computes from them (the
// rendering it compares with the desired table, the owner in the table's comment).
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "netfilter/nft_ownership.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nftnl_ptr.h"

namespace {

struct Context {
  probesnat::netfilter::NftTableState state;
  nftnl_set* elements = nullptr;
};

int OnMessage(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<Context*>(data);
  const std::string label = "table inet probesnat";
  switch (nlh->nlmsg_type & 0xff) {
    case NFT_MSG_NEWTABLE:
      (void)probesnat::netfilter::ParseTableMessage(nlh, label, ctx->state);
      break;
    case NFT_MSG_NEWCHAIN:
      (void)probesnat::netfilter::ParseChainMessage(nlh, label, ctx->state);
      break;
    case NFT_MSG_NEWRULE:
      (void)probesnat::netfilter::ParseRuleMessage(nlh, label, ctx->state);
      break;
    case NFT_MSG_NEWSET:
      (void)probesnat::netfilter::ParseSetMessage(nlh, label, ctx->state);
      break;
    case NFT_MSG_NEWSETELEM:
      (void)probesnat::netfilter::ParseSetElementsMessage(nlh, label, ctx->elements);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Context ctx;
  ctx.state.table.name = "probesnat";
  probesnat::netfilter::NftnlSetPtr holder(nftnl_set_alloc());
  nftnl_set_set_u32(holder.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(holder.get(), NFTNL_SET_TABLE, "probesnat");
  nftnl_set_set_str(holder.get(), NFTNL_SET_NAME, "pods4");
  ctx.elements = holder.get();
  (void)mnl_cb_run(data, size, 0, 0, OnMessage, &ctx);
  probesnat::netfilter::CollectSetElements(holder.get(), ctx.state.elements["pods4"]);
  (void)probesnat::netfilter::RenderTable(ctx.state.table);
  (void)probesnat::netfilter::ParsePodTableComment(ctx.state.table.comment);
  return 0;
}
