#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/ip_address.h"
#include "netfilter/nftnl_ptr.h"

namespace probesnat::netfilter {

// One rule: its bytecode and its text in nft syntax, both made by NftRuleBuilder.
struct NftRule {
  NftnlRulePtr rule;
  std::string text;  // as `nft list` prints the rule; empty for a rule read back from the kernel
};

// Builds one nf_tables rule of family inet, expression by expression, in the exact form `nft`
// itself emits for the same rule text (so that `nft list` prints that text back) and with the
// attributes the kernel fills in when it dumps the rule (so that a desired rule and a read-back
// rule render identically). All matches use register 1. Like nft, a rule checks `meta nfproto`
// once per family even when it matches several addresses of that family. Every call also appends
// its part of the rule's text, exactly as `nft list` prints it, so that bytecode and text are
// made in one place.
class NftRuleBuilder {
 public:
  NftRuleBuilder(const std::string& table, const std::string& chain);

  // Matches; each one is an implicit AND with the ones before it.
  NftRuleBuilder& L4ProtoTcp();                              // meta l4proto tcp
  NftRuleBuilder& TcpDport(uint16_t port);                   // tcp dport PORT (needs L4ProtoTcp)
  NftRuleBuilder& Saddr(const IpAddress& addr, bool equal);  // ip[6] saddr [!=] ADDR
  NftRuleBuilder& Daddr(const IpAddress& addr, bool equal);  // ip[6] daddr [!=] ADDR
  NftRuleBuilder& DaddrInSet(IpFamily family, const std::string& set);
  NftRuleBuilder& OifName(const std::string& name);  // oifname "NAME"
  NftRuleBuilder& MetaMarkMasked(uint32_t mask, uint32_t value, bool equal);
  NftRuleBuilder& CtMarkMasked(uint32_t mask, uint32_t value, bool equal);
  // meta skuid >= 0: true exactly when the packet belongs to a full socket of a process in this
  // namespace; the kernel ends the rule (no match) when there is none, e.g. for forwarded packets.
  NftRuleBuilder& HasLocalSocket();
  // socket cgroupv2 level LEVEL "NFT_PATH": the packet's socket was created in the cgroup with
  // this id at depth `level`, or below it. Only in prerouting, input and output.
  NftRuleBuilder& SocketCgroupV2(uint32_t level, uint64_t id, const std::string& nft_path);

  // Statements.
  NftRuleBuilder& CtMarkSetMasked(uint32_t keep_mask,
                                  uint32_t value);  // ct mark set ct mark & ~m | v
  NftRuleBuilder& CtMarkSetBits(uint32_t bits);     // ct mark set ct mark | BITS
  NftRuleBuilder& MetaMarkSetFromCtMark();          // meta mark set ct mark
  NftRuleBuilder& Accept();
  NftRuleBuilder& Drop();
  NftRuleBuilder& SnatTo(const IpAddress& addr);  // snat ip[6] to ADDR
  NftRuleBuilder& RedirectToPort(uint16_t port);  // redirect to :PORT

  NftRule Build();

 private:
  NftRuleBuilder& NfProto(IpFamily family);
  NftRuleBuilder& Add(nftnl_expr* expr);
  NftRuleBuilder& Cmp(uint32_t op, const void* data, uint32_t len);
  NftRuleBuilder& MetaLoad(uint32_t key);
  NftRuleBuilder& NetworkPayload(uint32_t offset, uint32_t len);
  NftRuleBuilder& Bitwise(uint32_t mask, uint32_t xor_value);
  NftRuleBuilder& AddressMatch(const IpAddress& addr, bool source, bool equal);

  NftRuleBuilder& Text(std::string part);

  NftnlRulePtr rule_;
  std::vector<std::string> text_;
  std::optional<IpFamily> nfproto_;  // the family this rule already checked
};

}  // namespace probesnat::netfilter
