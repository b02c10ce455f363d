#include "netfilter/nft_rule_builder.h"

// glibc's headers must precede the kernel's, which otherwise redefine struct in_addr.
#include <arpa/inet.h>
#include <net/if.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace probesnat::netfilter {
namespace {

constexpr uint32_t kReg = NFT_REG_1;

nftnl_expr* NewExpr(const char* name) { return nftnl_expr_alloc(name); }

// nft prints marks and masks as 32-bit hex.
std::string Hex(uint32_t v) { return absl::StrFormat("0x%08x", v); }

const char* IpKeyword(IpFamily family) { return family == IpFamily::kV4 ? "ip" : "ip6"; }

const char* Relation(bool equal) { return equal ? "==" : "!="; }

}  // namespace

NftRuleBuilder::NftRuleBuilder(const std::string& table, const std::string& chain)
    : rule_(nftnl_rule_alloc()) {
  nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
  nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
}

NftRule NftRuleBuilder::Build() { return NftRule{std::move(rule_), absl::StrJoin(text_, " ")}; }

NftRuleBuilder& NftRuleBuilder::Text(std::string part) {
  text_.push_back(std::move(part));
  return *this;
}

NftRuleBuilder& NftRuleBuilder::Add(nftnl_expr* expr) {
  nftnl_rule_add_expr(rule_.get(), expr);
  return *this;
}

NftRuleBuilder& NftRuleBuilder::Cmp(uint32_t op, const void* data, uint32_t len) {
  nftnl_expr* e = NewExpr("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
  return Add(e);
}

NftRuleBuilder& NftRuleBuilder::MetaLoad(uint32_t key) {
  nftnl_expr* e = NewExpr("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, kReg);
  return Add(e);
}

NftRuleBuilder& NftRuleBuilder::NetworkPayload(uint32_t offset, uint32_t len) {
  nftnl_expr* e = NewExpr("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  return Add(e);
}

NftRuleBuilder& NftRuleBuilder::Bitwise(uint32_t mask, uint32_t xor_value) {
  nftnl_expr* e = NewExpr("bitwise");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
  nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor_value, sizeof(xor_value));
  return Add(e);
}

NftRuleBuilder& NftRuleBuilder::NfProto(IpFamily family) {
  if (nfproto_ == family) {
    return *this;  // nft emits the dependency once per rule
  }
  nfproto_ = family;
  uint8_t proto = family == IpFamily::kV4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
  MetaLoad(NFT_META_NFPROTO);
  return Cmp(NFT_CMP_EQ, &proto, sizeof(proto));
}

NftRuleBuilder& NftRuleBuilder::L4ProtoTcp() {
  uint8_t proto = IPPROTO_TCP;
  MetaLoad(NFT_META_L4PROTO);
  Cmp(NFT_CMP_EQ, &proto, sizeof(proto));
  return Text("meta l4proto tcp");
}

NftRuleBuilder& NftRuleBuilder::TcpDport(uint16_t port) {
  nftnl_expr* e = NewExpr("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 2);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, sizeof(uint16_t));
  Add(e);
  uint16_t be = htons(port);
  Cmp(NFT_CMP_EQ, &be, sizeof(be));
  // nft leaves out the protocol match that `tcp dport` depends on.
  if (!text_.empty() && text_.back() == "meta l4proto tcp") {
    text_.pop_back();
  }
  return Text(absl::StrCat("tcp dport ", port));
}

NftRuleBuilder& NftRuleBuilder::AddressMatch(const IpAddress& addr, bool source, bool equal) {
  NfProto(addr.family());
  // IPv4: saddr at 12, daddr at 16; IPv6: saddr at 8, daddr at 24.
  uint32_t offset = addr.is_v4() ? (source ? 12 : 16) : (source ? 8 : 24);
  NetworkPayload(offset, static_cast<uint32_t>(addr.size()));
  Cmp(equal ? NFT_CMP_EQ : NFT_CMP_NEQ, addr.data(), static_cast<uint32_t>(addr.size()));
  return Text(absl::StrCat(IpKeyword(addr.family()), source ? " saddr " : " daddr ",
                           equal ? "" : "!= ", addr.ToString()));
}

NftRuleBuilder& NftRuleBuilder::Saddr(const IpAddress& addr, bool equal) {
  return AddressMatch(addr, /*source=*/true, equal);
}

NftRuleBuilder& NftRuleBuilder::Daddr(const IpAddress& addr, bool equal) {
  return AddressMatch(addr, /*source=*/false, equal);
}

NftRuleBuilder& NftRuleBuilder::DaddrInSet(IpFamily family, const std::string& set) {
  NfProto(family);
  bool v4 = family == IpFamily::kV4;
  NetworkPayload(v4 ? 16 : 24, v4 ? 4 : 16);
  nftnl_expr* e = NewExpr("lookup");
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, kReg);
  nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
  nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, 0);
  Add(e);
  return Text(absl::StrCat(IpKeyword(family), " daddr @", set));
}

NftRuleBuilder& NftRuleBuilder::OifName(const std::string& name) {
  std::array<char, IFNAMSIZ> padded{};
  std::memcpy(padded.data(), name.data(), std::min(name.size(), padded.size() - 1));
  MetaLoad(NFT_META_OIFNAME);
  Cmp(NFT_CMP_EQ, padded.data(), padded.size());
  return Text(absl::StrCat("oifname \"", padded.data(), "\""));
}

NftRuleBuilder& NftRuleBuilder::MetaMarkMasked(uint32_t mask, uint32_t value, bool equal) {
  MetaLoad(NFT_META_MARK);
  Bitwise(mask, 0);
  Cmp(equal ? NFT_CMP_EQ : NFT_CMP_NEQ, &value, sizeof(value));
  return Text(absl::StrCat("meta mark & ", Hex(mask), " ", Relation(equal), " ", Hex(value)));
}

NftRuleBuilder& NftRuleBuilder::CtMarkMasked(uint32_t mask, uint32_t value, bool equal) {
  nftnl_expr* e = NewExpr("ct");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, kReg);
  Add(e);
  Bitwise(mask, 0);
  Cmp(equal ? NFT_CMP_EQ : NFT_CMP_NEQ, &value, sizeof(value));
  return Text(absl::StrCat("ct mark & ", Hex(mask), " ", Relation(equal), " ", Hex(value)));
}

NftRuleBuilder& NftRuleBuilder::HasLocalSocket() {
  MetaLoad(NFT_META_SKUID);
  nftnl_expr* e = NewExpr("byteorder");
  nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
  nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, sizeof(uint32_t));
  nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, sizeof(uint32_t));
  Add(e);
  uint32_t zero = 0;
  Cmp(NFT_CMP_GTE, &zero, sizeof(zero));
  return Text("meta skuid >= 0");
}

NftRuleBuilder& NftRuleBuilder::SocketCgroupV2(uint32_t level, uint64_t id,
                                               const std::string& nft_path) {
  nftnl_expr* e = NewExpr("socket");
  nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY, NFT_SOCKET_CGROUPV2);
  nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_LEVEL, level);
  Add(e);
  Cmp(NFT_CMP_EQ, &id, sizeof(id));  // the kernel's u64, in host byte order
  return Text(absl::StrCat("socket cgroupv2 level ", level, " \"", nft_path, "\""));
}

NftRuleBuilder& NftRuleBuilder::CtMarkSetBits(uint32_t bits) {
  CtMarkSetMasked(bits, bits);
  text_.pop_back();  // nft prints x & ~b ^ b as x | b
  return Text(absl::StrCat("ct mark set ct mark | ", Hex(bits)));
}

NftRuleBuilder& NftRuleBuilder::CtMarkSetMasked(uint32_t keep_mask, uint32_t value) {
  nftnl_expr* load = NewExpr("ct");
  nftnl_expr_set_u32(load, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
  nftnl_expr_set_u32(load, NFTNL_EXPR_CT_DREG, kReg);
  Add(load);
  // (mark & ~(m | v)) ^ v == (mark & ~m) | v for any v.
  const uint32_t and_mask = ~(keep_mask | value);
  Bitwise(and_mask, value);
  nftnl_expr* set = NewExpr("ct");
  nftnl_expr_set_u32(set, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
  nftnl_expr_set_u32(set, NFTNL_EXPR_CT_SREG, kReg);
  Add(set);
  // nft prints (x & a) ^ v as x & (a | v) | v.
  return Text(absl::StrCat("ct mark set ct mark & ", Hex(and_mask | value), " | ", Hex(value)));
}

NftRuleBuilder& NftRuleBuilder::MetaMarkSetFromCtMark() {
  nftnl_expr* load = NewExpr("ct");
  nftnl_expr_set_u32(load, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
  nftnl_expr_set_u32(load, NFTNL_EXPR_CT_DREG, kReg);
  Add(load);
  nftnl_expr* set = NewExpr("meta");
  nftnl_expr_set_u32(set, NFTNL_EXPR_META_KEY, NFT_META_MARK);
  nftnl_expr_set_u32(set, NFTNL_EXPR_META_SREG, kReg);
  Add(set);
  return Text("meta mark set ct mark");
}

NftRuleBuilder& NftRuleBuilder::Accept() {
  nftnl_expr* e = NewExpr("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
  Add(e);
  return Text("accept");
}

NftRuleBuilder& NftRuleBuilder::Drop() {
  nftnl_expr* e = NewExpr("immediate");
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
  Add(e);
  return Text("drop");
}

NftRuleBuilder& NftRuleBuilder::SnatTo(const IpAddress& addr) {
  nftnl_expr* imm = NewExpr("immediate");
  nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, kReg);
  nftnl_expr_set(imm, NFTNL_EXPR_IMM_DATA, addr.data(), static_cast<uint32_t>(addr.size()));
  Add(imm);
  nftnl_expr* e = NewExpr("nat");
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, addr.is_v4() ? NFPROTO_IPV4 : NFPROTO_IPV6);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_MAP_IPS);
  Add(e);
  return Text(absl::StrCat("snat ", IpKeyword(addr.family()), " to ", addr.ToString()));
}

NftRuleBuilder& NftRuleBuilder::RedirectToPort(uint16_t port) {
  nftnl_expr* imm = NewExpr("immediate");
  nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, kReg);
  uint16_t be = htons(port);
  nftnl_expr_set(imm, NFTNL_EXPR_IMM_DATA, &be, sizeof(be));
  Add(imm);
  nftnl_expr* e = NewExpr("redir");
  nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MAX, kReg);
  nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
  Add(e);
  return Text(absl::StrCat("redirect to :", port));
}

}  // namespace probesnat::netfilter
