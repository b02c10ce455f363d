// libFuzzer: what the kernel answers when the agent reads its tables back, as a stream of netlink
// messages (the bytes of a recv() buffer), split as NftSocket splits them, through the read-back parser (netfilter/nft_readback.h):
// tables, chains, rules, sets and set elements, then what the agent computes from them (the
// rendering it compares with the desired table, the owner in the table's comment).
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <dlfcn.h>

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "netfilter/nft_ownership.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"
#include "netfilter/nftnl_ptr.h"

namespace {

// libnftnl ends the process (exit(EXIT_FAILURE) after "nf_tables kernel ABI is broken") on any
// attribute of a type it does not expect: it trusts its sender, and the agent's netlink sockets
// accept only the kernel (NftSocket connects them to portid 0; nft_socket_test.cc). Such inputs
// are outside the parser's contract, so while libnftnl parses, exit() returns to the harness
// (which then skips the input) instead of ending the run. What libnftnl allocated for that one
// message is lost, hence -detect_leaks=0 for this target in scripts/fuzz.sh.
thread_local bool parsing = false;
thread_local std::jmp_buf escape;

}  // namespace

extern "C" void exit(int code) noexcept {
  if (parsing) {
    parsing = false;
    std::longjmp(escape, 1);
  }
  using Exit = void (*)(int);
  reinterpret_cast<Exit>(::dlsym(RTLD_NEXT, "exit"))(code);
  __builtin_unreachable();
}

namespace {

struct Context {
  probesnat::netfilter::NftTableState state;
  nftnl_set* elements = nullptr;
};

void OnMessage(const nlmsghdr* nlh, Context* ctx) {
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
  // As NftSocket does with each recv() buffer of a dump.
  if (setjmp(escape) != 0) {
    return -1;  // libnftnl refused a message as ABI breakage; not kept in the corpus
  }
  parsing = true;
  for (const nlmsghdr* nlh : probesnat::netfilter::SplitNetlinkMessages(data, size)) {
    OnMessage(nlh, &ctx);
  }
  parsing = false;
  probesnat::netfilter::CollectSetElements(holder.get(), ctx.state.elements["pods4"]);
  (void)probesnat::netfilter::RenderTable(ctx.state.table);
  (void)probesnat::netfilter::ParsePodTableComment(ctx.state.table.comment);
  return 0;
}
