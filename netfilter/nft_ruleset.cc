#include "netfilter/nft_ruleset.h"

#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "netfilter/nft_ownership.h"
#include "netfilter/nft_rule_builder.h"

namespace probesnat::netfilter {
namespace {

// nft's named priorities.
constexpr int32_t kPrioMangle = -150;
constexpr int32_t kPrioDstNat = -100;
constexpr int32_t kPrioFilter = 0;
constexpr int32_t kPrioSrcNat = 100;

// nft's datatype ids for set keys.
constexpr uint32_t kTypeIpv4Addr = 7;
constexpr uint32_t kTypeIpv6Addr = 8;

constexpr char kNatPostrouting[] = "nat_postrouting";
constexpr char kForwardAntispoof[] = "forward_antispoof";
constexpr char kOriginOutput[] = "origin_output";
constexpr char kManglePrerouting[] = "mangle_prerouting";
constexpr char kMangleOutput[] = "mangle_output";
constexpr char kNatPrerouting[] = "nat_prerouting";
constexpr char kNatOutput[] = "nat_output";

NftnlChainPtr BaseChain(const std::string& table, const char* name, const char* type, uint32_t hook,
                        int32_t prio) {
  NftnlChainPtr c(nftnl_chain_alloc());
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, type);
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, hook);
  nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, prio);
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
  return c;
}

NftnlSetPtr AddressSet(const std::string& table, const char* name, bool v4) {
  NftnlSetPtr s(nftnl_set_alloc());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, v4 ? kTypeIpv4Addr : kTypeIpv6Addr);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, v4 ? 4 : 16);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, 0);
  // The kernel requires a transaction-local id for a new set.
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, v4 ? 1 : 2);
  return s;
}

std::string RenderExprs(const nftnl_rule* rule) {
  std::string out;
  nftnl_expr_iter* it = nftnl_expr_iter_create(rule);
  char buf[1024];
  for (nftnl_expr* e = nftnl_expr_iter_next(it); e != nullptr; e = nftnl_expr_iter_next(it)) {
    buf[0] = '\0';
    nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
    const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    absl::StrAppend(&out, "  [ ", name, " ", absl::StripTrailingAsciiWhitespace(buf));
    // libnftnl 1.2.4 does not print a socket expression's cgroup level; it is part of the rule.
    if (std::string_view(name) == "socket" && nftnl_expr_is_set(e, NFTNL_EXPR_SOCKET_LEVEL)) {
      absl::StrAppend(&out, " level ", nftnl_expr_get_u32(e, NFTNL_EXPR_SOCKET_LEVEL));
    }
    absl::StrAppend(&out, " ]\n");
  }
  nftnl_expr_iter_destroy(it);
  return out;
}

const char* StrOrEmpty(const char* s) { return s == nullptr ? "" : s; }

const char* HookName(uint32_t hook) {
  switch (hook) {
    case NF_INET_PRE_ROUTING:
      return "prerouting";
    case NF_INET_LOCAL_IN:
      return "input";
    case NF_INET_FORWARD:
      return "forward";
    case NF_INET_LOCAL_OUT:
      return "output";
    case NF_INET_POST_ROUTING:
      return "postrouting";
    default:
      return "?";
  }
}

// As nft names a base chain priority of family inet: a standard priority within 10 ("srcnat -
// 10"), where the hook allows it (dstnat only in prerouting, srcnat only in postrouting), else
// the number.
std::string PriorityText(uint32_t hook, int32_t prio) {
  constexpr std::pair<int32_t, const char*> kNamed[] = {
      {-300, "raw"},           {kPrioMangle, "mangle"}, {kPrioDstNat, "dstnat"},
      {kPrioFilter, "filter"}, {50, "security"},        {kPrioSrcNat, "srcnat"}};
  for (const auto& [base, name] : kNamed) {
    const int32_t offset = prio - base;
    if (offset < -10 || offset > 10 || (base == kPrioDstNat && hook != NF_INET_PRE_ROUTING) ||
        (base == kPrioSrcNat && hook != NF_INET_POST_ROUTING)) {
      continue;
    }
    if (offset == 0) {
      return name;
    }
    return absl::StrCat(name, offset > 0 ? " + " : " - ", offset > 0 ? offset : -offset);
  }
  return absl::StrCat(prio);
}

const char* KeyTypeName(uint32_t key_type) {
  switch (key_type) {
    case kTypeIpv4Addr:
      return "ipv4_addr";
    case kTypeIpv6Addr:
      return "ipv6_addr";
    default:
      return "?";
  }
}

}  // namespace

std::string TableLabel(const std::string& name) { return absl::StrCat("table inet ", name); }

// Host: SNAT to the probe address only what provably comes from a local socket. `meta skuid`
// (the `socket` expression is not allowed in postrouting) evaluates only for a packet carrying a
// full socket of this namespace that is owned by a process (sk->sk_socket->file); otherwise the
// kernel ends the rule without a match. Forwarded packets carry no socket: ip_forward() drops any
// that do, and a veth crossing from a pod scrubs it; DNATed (NodePort) and to-be-masqueraded
// packets are forwarded too, and kernel-generated packets (RSTs) use sockets without a file.
// So `meta skuid >= 0` is a stateless "local process socket" test that needs no mark bits that
// could clash with the CNI's or kube-proxy's. Only the first packet of a connection reaches a nat
// chain; priority srcnat - 10 runs before kube-proxy's masquerade (srcnat).
//
// Cgroup origin: only the kubelet's sockets are "the node". `socket` is not allowed in
// postrouting, so an output chain (after conntrack, -200) sets a connection-mark bit on TCP towards
// enrolled pods from sockets created in the kubelet's cgroup, and the SNAT rule requires that bit
// as well as the local socket. The mark travels with the connection, not the packet, so it never
// leaves the node (a pod namespace has its own conntrack) and no packet mark changes.
NftTable BuildHostTable(const HostRules& rules) {
  NftTable t;
  t.name = kTableName;
  const bool cgroup = rules.origin == ProbeOrigin::kCgroup;
  t.sets.push_back(AddressSet(t.name, kHostSetV4, true));
  t.sets.push_back(AddressSet(t.name, kHostSetV6, false));
  if (cgroup) {
    t.chains.push_back(
        BaseChain(t.name, kOriginOutput, "filter", NF_INET_LOCAL_OUT, kPrioMangle));
    for (const auto& [family, set] :
         {std::pair{IpFamily::kV4, kHostSetV4}, std::pair{IpFamily::kV6, kHostSetV6}}) {
      t.rules.push_back(NftRuleBuilder(t.name, kOriginOutput)
                            .L4ProtoTcp()
                            .DaddrInSet(family, set)
                            .SocketCgroupV2(rules.kubelet_cgroup.level, rules.kubelet_cgroup.id,
                                            rules.kubelet_cgroup.nft_path)
                            .CtMarkSetBits(rules.origin_ct_mark)
                            .Build());
    }
  }
  t.chains.push_back(
      BaseChain(t.name, kNatPostrouting, "nat", NF_INET_POST_ROUTING, kPrioSrcNat - 10));
  for (const auto& [family, set, probe] : {std::tuple{IpFamily::kV4, kHostSetV4, rules.probe_v4},
                                           std::tuple{IpFamily::kV6, kHostSetV6, rules.probe_v6}}) {
    NftRuleBuilder rule(t.name, kNatPostrouting);
    rule.L4ProtoTcp().DaddrInSet(family, set).HasLocalSocket();
    if (cgroup) {
      rule.CtMarkMasked(rules.origin_ct_mark, rules.origin_ct_mark, true);
    }
    t.rules.push_back(rule.SnatTo(probe).Build());
  }
  // Anti-spoofing: inside an enrolled pod, TCP from the probe address bypasses mesh capture, so
  // the only legitimate such packets are the ones this node originates and SNATs above (they
  // never traverse forward). Anything the node forwards to an enrolled pod with the probe address
  // as its source (from another pod, from outside, after a NodePort DNAT) is a forgery: drop it,
  // whatever its protocol. Forward runs after prerouting's DNAT, so daddr is the pod's address.
  t.chains.push_back(
      BaseChain(t.name, kForwardAntispoof, "filter", NF_INET_FORWARD, kPrioFilter - 10));
  for (const auto& [family, set, probe] : {std::tuple{IpFamily::kV4, kHostSetV4, rules.probe_v4},
                                           std::tuple{IpFamily::kV6, kHostSetV6, rules.probe_v6}}) {
    t.rules.push_back(NftRuleBuilder(t.name, kForwardAntispoof)
                          .Saddr(probe, true)
                          .DaddrInSet(family, set)
                          .Drop()
                          .Build());
  }
  return t;
}

NftTable BuildPodTable(const PodRules& r) {
  NftTable t;
  t.name = kTableName;
  t.chains.push_back(
      BaseChain(t.name, kManglePrerouting, "filter", NF_INET_PRE_ROUTING, kPrioMangle));
  t.chains.push_back(BaseChain(t.name, kMangleOutput, "route", NF_INET_LOCAL_OUT, kPrioMangle));
  t.chains.push_back(BaseChain(t.name, kNatPrerouting, "nat", NF_INET_PRE_ROUTING, kPrioDstNat));
  t.chains.push_back(BaseChain(t.name, kNatOutput, "nat", NF_INET_LOCAL_OUT, kPrioDstNat));

  t.rules.push_back(NftRuleBuilder(t.name, kManglePrerouting)
                        .MetaMarkMasked(r.proxy_mask, r.proxy_mark, true)
                        .CtMarkSetMasked(r.connection_mask, r.connection_mark)
                        .Build());
  t.rules.push_back(NftRuleBuilder(t.name, kMangleOutput)
                        .CtMarkMasked(r.connection_mask, r.connection_mark, true)
                        .MetaMarkSetFromCtMark()
                        .Build());

  // nat prerouting: probes (of the enrolled families) and tunnel traffic pass, other inbound TCP
  // is captured.
  for (const auto& [probe, enrolled] :
       {std::pair{r.probe_v4, r.enrolled_v4}, std::pair{r.probe_v6, r.enrolled_v6}}) {
    if (enrolled) {
      t.rules.push_back(
          NftRuleBuilder(t.name, kNatPrerouting).L4ProtoTcp().Saddr(probe, true).Accept().Build());
    }
  }
  t.rules.push_back(
      NftRuleBuilder(t.name, kNatPrerouting).L4ProtoTcp().TcpDport(r.tunnel_port).Accept().Build());
  if (r.inbound_capture) {
    for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
      t.rules.push_back(NftRuleBuilder(t.name, kNatPrerouting)
                            .L4ProtoTcp()
                            .Daddr(IpAddress::Loopback(f), false)
                            .MetaMarkMasked(r.proxy_mask, r.proxy_mark, false)
                            .RedirectToPort(r.inbound_capture_port)
                            .Build());
    }
  }

  // nat output: probe replies, proxy connections and loopback pass; other outbound TCP is captured.
  for (const IpAddress& probe : {r.probe_v4, r.probe_v6}) {
    t.rules.push_back(
        NftRuleBuilder(t.name, kNatOutput).L4ProtoTcp().Daddr(probe, true).Accept().Build());
  }
  t.rules.push_back(NftRuleBuilder(t.name, kNatOutput)
                        .L4ProtoTcp()
                        .CtMarkMasked(r.connection_mask, r.connection_mark, true)
                        .Accept()
                        .Build());
  for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
    t.rules.push_back(NftRuleBuilder(t.name, kNatOutput)
                          .OifName("lo")
                          .Daddr(IpAddress::Loopback(f), false)
                          .Accept()
                          .Build());
  }
  if (r.outbound_capture) {
    for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
      t.rules.push_back(NftRuleBuilder(t.name, kNatOutput)
                            .L4ProtoTcp()
                            .Daddr(IpAddress::Loopback(f), false)
                            .MetaMarkMasked(r.proxy_mask, r.proxy_mark, false)
                            .RedirectToPort(r.outbound_capture_port)
                            .Build());
    }
  }
  return t;
}

std::string RenderTable(const NftTable& table) {
  std::string out = absl::StrCat("table inet ", table.name, " flags ", table.flags, "\n");
  std::map<std::string, std::string> chains;
  for (const NftnlChainPtr& c : table.chains) {
    const nftnl_chain* p = c.get();
    std::string& text = chains[StrOrEmpty(nftnl_chain_get_str(p, NFTNL_CHAIN_NAME))];
    absl::StrAppend(&text, "chain ", StrOrEmpty(nftnl_chain_get_str(p, NFTNL_CHAIN_NAME)));
    if (nftnl_chain_is_set(p, NFTNL_CHAIN_HOOKNUM)) {
      absl::StrAppend(&text, " type ", StrOrEmpty(nftnl_chain_get_str(p, NFTNL_CHAIN_TYPE)),
                      " hook ", nftnl_chain_get_u32(p, NFTNL_CHAIN_HOOKNUM), " prio ",
                      nftnl_chain_get_s32(p, NFTNL_CHAIN_PRIO), " policy ",
                      nftnl_chain_get_u32(p, NFTNL_CHAIN_POLICY));
    }
    absl::StrAppend(&text, "\n");
  }
  for (const NftRule& r : table.rules) {
    const char* chain = StrOrEmpty(nftnl_rule_get_str(r.rule.get(), NFTNL_RULE_CHAIN));
    absl::StrAppend(&chains[chain], " rule\n", RenderExprs(r.rule.get()));
  }
  for (const auto& [name, text] : chains) {
    absl::StrAppend(&out, text);
  }
  std::map<std::string, std::string> sets;
  for (const NftnlSetPtr& s : table.sets) {
    std::string name = StrOrEmpty(nftnl_set_get_str(s.get(), NFTNL_SET_NAME));
    sets[name] =
        absl::StrCat("set ", name, " key_type ", nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_TYPE),
                     " key_len ", nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_LEN), " flags ",
                     nftnl_set_get_u32(s.get(), NFTNL_SET_FLAGS), "\n");
  }
  for (const auto& [name, text] : sets) {
    absl::StrAppend(&out, text);
  }
  return out;
}

std::string NftListText(const NftTable& table) {
  std::vector<std::string> blocks;
  for (const NftnlSetPtr& s : table.sets) {
    blocks.push_back(absl::StrCat(
        "\tset ", StrOrEmpty(nftnl_set_get_str(s.get(), NFTNL_SET_NAME)), " {\n\t\ttype ",
        KeyTypeName(nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_TYPE)), "\n\t}\n"));
  }
  for (const NftnlChainPtr& c : table.chains) {
    const nftnl_chain* p = c.get();
    const std::string name = StrOrEmpty(nftnl_chain_get_str(p, NFTNL_CHAIN_NAME));
    std::string text = absl::StrCat("\tchain ", name, " {\n");
    if (nftnl_chain_is_set(p, NFTNL_CHAIN_HOOKNUM)) {
      const uint32_t hook = nftnl_chain_get_u32(p, NFTNL_CHAIN_HOOKNUM);
      absl::StrAppend(&text, "\t\ttype ", StrOrEmpty(nftnl_chain_get_str(p, NFTNL_CHAIN_TYPE)),
                      " hook ", HookName(hook), " priority ",
                      PriorityText(hook, nftnl_chain_get_s32(p, NFTNL_CHAIN_PRIO)), "; policy ",
                      nftnl_chain_get_u32(p, NFTNL_CHAIN_POLICY) == NF_ACCEPT ? "accept" : "drop",
                      ";\n");
    }
    for (const NftRule& r : table.rules) {
      if (name == StrOrEmpty(nftnl_rule_get_str(r.rule.get(), NFTNL_RULE_CHAIN))) {
        absl::StrAppend(&text, "\t\t", r.text, "\n");
      }
    }
    blocks.push_back(absl::StrCat(text, "\t}\n"));
  }
  std::string comment;
  if (!table.comment.empty()) {
    comment = absl::StrCat("\tcomment \"", table.comment, "\"\n");
  }
  return absl::StrCat("table inet ", table.name, " {\n", comment, absl::StrJoin(blocks, "\n"),
                      "}\n");
}

void AppendReplaceTable(NftBatch& batch, NftTable& table) {
  const std::string label = TableLabel(table.name);
  NftnlTablePtr t(nftnl_table_alloc());
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, table.name.c_str());
  batch.AddTable(NFT_MSG_NEWTABLE, NLM_F_CREATE, t.get(), label);
  batch.AddTable(NFT_MSG_DELTABLE, 0, t.get(), label);
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, table.flags);
  if (!table.comment.empty()) {
    const std::string userdata = EncodeComment(NFTNL_UDATA_TABLE_COMMENT, table.comment);
    nftnl_table_set_data(t.get(), NFTNL_TABLE_USERDATA, userdata.data(),
                         static_cast<uint32_t>(userdata.size()));
  }
  batch.AddTable(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, t.get(), label);
  for (NftnlSetPtr& s : table.sets) {
    batch.AddSet(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, s.get(),
                 absl::StrCat("set ", nftnl_set_get_str(s.get(), NFTNL_SET_NAME), " of ", label));
  }
  for (NftnlChainPtr& c : table.chains) {
    batch.AddChain(
        NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, c.get(),
        absl::StrCat("chain ", nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME), " of ", label));
  }
  for (NftRule& r : table.rules) {
    batch.AddRule(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r.rule.get(),
                  absl::StrCat("rule \"", r.text, "\" in chain ",
                               nftnl_rule_get_str(r.rule.get(), NFTNL_RULE_CHAIN), " of ", label));
  }
}

void AppendDeleteTable(NftBatch& batch, const std::string& name) {
  const std::string label = TableLabel(name);
  NftnlTablePtr t(nftnl_table_alloc());
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
  batch.AddTable(NFT_MSG_NEWTABLE, NLM_F_CREATE, t.get(), label);
  batch.AddTable(NFT_MSG_DELTABLE, 0, t.get(), label);
}

}  // namespace probesnat::netfilter
