// Rule building without privilege: the bytecode we build equals what `nft --debug=netlink` emits
// for the intended rule text (plus the attributes the kernel fills in when it dumps a rule).
#include "netfilter/nft_ruleset.h"

#include <linux/netfilter/nfnetlink.h>

#include <string>

#include "gtest/gtest.h"
#include "netfilter/tests/golden_tables.h"

namespace probesnat::netfilter {
namespace {

// From `nft --debug=netlink` for
//   meta l4proto tcp ip daddr @pods_v4 meta skuid >= 0 snat ip to 169.254.7.127
//   meta l4proto tcp ip6 daddr @pods_v6 meta skuid >= 0 snat ip6 to fd16:9254:7127:1337:ffff:...
//   ip saddr 169.254.7.127 ip daddr @pods_v4 drop
//   ip6 saddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff ip6 daddr @pods_v6 drop
// with lookup flags, nat addr_max/flags as the kernel reports them.
constexpr char kHostDefaults[] = R"(table inet probesnat flags 0
chain forward_antispoof type filter hook 2 prio -10 policy 1
 rule
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ payload load 4b @ network header + 12 => reg 1 ]
  [ cmp eq reg 1 0x7f07fea9 ]
  [ payload load 4b @ network header + 16 => reg 1 ]
  [ lookup reg 1 set pods_v4 0x0 ]
  [ immediate reg 0 drop ]
 rule
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ payload load 16b @ network header + 8 => reg 1 ]
  [ cmp eq reg 1 0x549216fd 0x37132771 0xffffffff 0xffffffff ]
  [ payload load 16b @ network header + 24 => reg 1 ]
  [ lookup reg 1 set pods_v6 0x0 ]
  [ immediate reg 0 drop ]
chain nat_postrouting type nat hook 4 prio 90 policy 1
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ payload load 4b @ network header + 16 => reg 1 ]
  [ lookup reg 1 set pods_v4 0x0 ]
  [ meta load skuid => reg 1 ]
  [ byteorder reg 1 = hton(reg 1, 4, 4) ]
  [ cmp gte reg 1 0x00000000 ]
  [ immediate reg 1 0x7f07fea9 ]
  [ nat snat ip addr_min reg 1 addr_max reg 1 flags 0x1 ]
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ payload load 16b @ network header + 24 => reg 1 ]
  [ lookup reg 1 set pods_v6 0x0 ]
  [ meta load skuid => reg 1 ]
  [ byteorder reg 1 = hton(reg 1, 4, 4) ]
  [ cmp gte reg 1 0x00000000 ]
  [ immediate reg 1 0x549216fd 0x37132771 0xffffffff 0xffffffff ]
  [ nat snat ip6 addr_min reg 1 addr_max reg 1 flags 0x1 ]
set pods_v4 key_type 7 key_len 4 flags 0
set pods_v6 key_type 8 key_len 16 flags 0
)";

// nat_prerouting of the default pod table (nft --debug=netlink of the DESIGN.md rules).
constexpr char kPodNatPrerouting[] = R"(chain nat_prerouting type nat hook 0 prio -100 policy 1
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ payload load 4b @ network header + 12 => reg 1 ]
  [ cmp eq reg 1 0x7f07fea9 ]
  [ immediate reg 0 accept ]
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ payload load 16b @ network header + 8 => reg 1 ]
  [ cmp eq reg 1 0x549216fd 0x37132771 0xffffffff 0xffffffff ]
  [ immediate reg 0 accept ]
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x0000a03a ]
  [ immediate reg 0 accept ]
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ payload load 4b @ network header + 16 => reg 1 ]
  [ cmp neq reg 1 0x0100007f ]
  [ meta load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0x00000fff ) ^ 0x00000000 ]
  [ cmp neq reg 1 0x00000539 ]
  [ immediate reg 1 0x00009e3a ]
  [ redir proto_min reg 1 proto_max reg 1 flags 0x2 ]
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ payload load 16b @ network header + 24 => reg 1 ]
  [ cmp neq reg 1 0x00000000 0x00000000 0x00000000 0x01000000 ]
  [ meta load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0x00000fff ) ^ 0x00000000 ]
  [ cmp neq reg 1 0x00000539 ]
  [ immediate reg 1 0x00009e3a ]
  [ redir proto_min reg 1 proto_max reg 1 flags 0x2 ]
)";

constexpr char kPodMangle[] = R"(chain mangle_output type route hook 3 prio -150 policy 1
 rule
  [ ct load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0x00000fff ) ^ 0x00000000 ]
  [ cmp eq reg 1 0x00000111 ]
  [ ct load mark => reg 1 ]
  [ meta set mark with reg 1 ]
chain mangle_prerouting type filter hook 0 prio -150 policy 1
 rule
  [ meta load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0x00000fff ) ^ 0x00000000 ]
  [ cmp eq reg 1 0x00000539 ]
  [ ct load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0xfffff000 ) ^ 0x00000111 ]
  [ ct set mark with reg 1 ]
)";

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(NftRuleset, HostTableMatchesNftBytecode) {
  EXPECT_EQ(RenderTable(BuildHostTable(HostRules{})), kHostDefaults);
}

TEST(NftRuleset, HostTableUsesConfiguredProbeAddresses) {
  HostRules rules;
  rules.probe_v4 = *IpAddress::Parse("169.254.1.2");
  rules.probe_v6 = *IpAddress::Parse("fd00::7");
  std::string text = RenderTable(BuildHostTable(rules));
  EXPECT_NE(text.find("[ immediate reg 1 0x0201fea9 ]"), std::string::npos) << text;
  EXPECT_NE(text.find("[ immediate reg 1 0x000000fd 0x00000000 0x00000000 0x07000000 ]"),
            std::string::npos)
      << text;
  // The forward chain drops forgeries of the configured addresses, not of the defaults.
  EXPECT_NE(text.find("[ cmp eq reg 1 0x0201fea9 ]"), std::string::npos) << text;
  EXPECT_NE(text.find("[ cmp eq reg 1 0x000000fd 0x00000000 0x00000000 0x07000000 ]"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("0x7f07fea9"), std::string::npos) << text;
  EXPECT_NE(text, RenderTable(BuildHostTable(HostRules{})));
}

// What `nft --debug=netlink` prints for the cgroup origin's rules (nftables 1.0.6), plus the
// socket expression's level, which libnftnl 1.2.4 does not print but RenderTable compares.
constexpr char kOriginOutputV4[] = R"(  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ payload load 4b @ network header + 16 => reg 1 ]
  [ lookup reg 1 set pods_v4 0x0 ]
  [ socket load cgroupv2 => reg 1 level 2 ]
  [ cmp eq reg 1 0x00001092 0x00000000 ]
  [ ct load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0xffefffff ) ^ 0x00100000 ]
  [ ct set mark with reg 1 ]
)";

TEST(NftRuleset, CgroupOriginMarksKubeletConnectionsAndSnatRequiresTheMark) {
  const std::string text = RenderTable(BuildHostTable(testing::KubeletCgroupHostRules()));
  EXPECT_NE(text.find(kOriginOutputV4), std::string::npos) << text;
  EXPECT_NE(text.find("[ bitwise reg 1 = ( reg 1 & 0x00100000 ) ^ 0x00000000 ]\n"
                      "  [ cmp eq reg 1 0x00100000 ]\n"
                      "  [ immediate reg 1 0x7f07fea9 ]"),
            std::string::npos)
      << text;
  // Still the local-socket proof before the mark.
  EXPECT_EQ(Count(text, "[ meta load skuid => reg 1 ]"), 2u) << text;
  EXPECT_EQ(Count(text, " rule\n"), 6u) << text;
}

// A cgroup re-created under the same path has a new id; a kubelet moved has another level: both
// are other rules, so the drift check sees them and EnsureHost rewrites the table.
TEST(NftRuleset, CgroupIdAndLevelArePartOfTheComparedTable) {
  HostRules rules = testing::KubeletCgroupHostRules();
  const std::string before = RenderTable(BuildHostTable(rules));
  rules.kubelet_cgroup.id += 1;
  EXPECT_NE(RenderTable(BuildHostTable(rules)), before);
  rules = testing::KubeletCgroupHostRules();
  rules.kubelet_cgroup.level = 3;
  EXPECT_NE(RenderTable(BuildHostTable(rules)), before);
  rules = testing::KubeletCgroupHostRules();
  rules.kubelet_cgroup.nft_path = "elsewhere";  // text only
  EXPECT_EQ(RenderTable(BuildHostTable(rules)), before);
  EXPECT_NE(RenderTable(BuildHostTable(HostRules{})), before);
}

TEST(NftRuleset, PodTableMatchesNftBytecode) {
  std::string text = RenderTable(BuildPodTable(PodRules{}));
  EXPECT_NE(text.find(kPodNatPrerouting), std::string::npos) << text;
  EXPECT_NE(text.find(kPodMangle), std::string::npos) << text;
  EXPECT_EQ(Count(text, "chain "), 4u);
  EXPECT_EQ(Count(text, " rule\n"), 14u);
  // Outbound capture to 15001 = 0x3a99, network order.
  EXPECT_EQ(Count(text, "[ immediate reg 1 0x0000993a ]"), 2u);
}

TEST(NftRuleset, PodTableWithoutCaptureHasNoRedirects) {
  PodRules rules;
  rules.inbound_capture = false;
  std::string text = RenderTable(BuildPodTable(rules));
  EXPECT_EQ(Count(text, "redir"), 2u);
  EXPECT_EQ(Count(text, "[ immediate reg 1 0x00009e3a ]"), 0u);
  rules.outbound_capture = false;
  text = RenderTable(BuildPodTable(rules));
  EXPECT_EQ(Count(text, "redir"), 0u);
  EXPECT_EQ(Count(text, " rule\n"), 10u);
}

// nat_prerouting of a pod enrolled with one family (nft --debug=netlink): only that family's
// probe source skips capture, as the host SNATs probes and drops forgeries only for enrolled IPs.
constexpr char kPodNatPreroutingProbeV4Only[] =
    R"(chain nat_prerouting type nat hook 0 prio -100 policy 1
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ payload load 4b @ network header + 12 => reg 1 ]
  [ cmp eq reg 1 0x7f07fea9 ]
  [ immediate reg 0 accept ]
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x0000a03a ]
  [ immediate reg 0 accept ]
 rule
)";
constexpr char kPodNatPreroutingProbeV6Only[] =
    R"(chain nat_prerouting type nat hook 0 prio -100 policy 1
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ payload load 16b @ network header + 8 => reg 1 ]
  [ cmp eq reg 1 0x549216fd 0x37132771 0xffffffff 0xffffffff ]
  [ immediate reg 0 accept ]
 rule
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x0000a03a ]
  [ immediate reg 0 accept ]
 rule
)";

TEST(NftRuleset, PodTableTrustsTheProbeSourceOnlyOfEnrolledFamilies) {
  PodRules v4_only;
  v4_only.enrolled_v6 = false;
  std::string text = RenderTable(BuildPodTable(v4_only));
  EXPECT_NE(text.find(kPodNatPreroutingProbeV4Only), std::string::npos) << text;
  EXPECT_EQ(Count(text, " rule\n"), 13u);
  // The v6 probe address appears once more: nat_output's accept of connections towards it.
  EXPECT_EQ(Count(text, "0x549216fd 0x37132771 0xffffffff 0xffffffff"), 1u) << text;
  // Inbound capture still covers IPv6.
  EXPECT_EQ(Count(text, "[ immediate reg 1 0x00009e3a ]"), 2u);

  PodRules v6_only;
  v6_only.enrolled_v4 = false;
  text = RenderTable(BuildPodTable(v6_only));
  EXPECT_NE(text.find(kPodNatPreroutingProbeV6Only), std::string::npos) << text;
  EXPECT_EQ(Count(text, " rule\n"), 13u);
  EXPECT_EQ(Count(text, "0x7f07fea9"), 1u) << text;
  EXPECT_EQ(Count(text, "[ immediate reg 1 0x00009e3a ]"), 2u);

  NftTable t = BuildPodTable(v4_only);
  for (const NftRule& r : t.rules) {
    EXPECT_NE(r.text, "meta l4proto tcp ip6 saddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff accept");
  }
  EXPECT_NE(RenderTable(BuildPodTable(v4_only)), RenderTable(BuildPodTable(PodRules{})));
}

TEST(NftRuleset, PodTableUsesConfiguredValues) {
  PodRules rules;
  rules.tunnel_port = 16008;  // 0x3e88
  rules.proxy_mark = 0x1;     // mask 0x7
  rules.proxy_mask = 0x7;
  rules.connection_mark = 0x20;
  rules.connection_mask = 0xf0;
  std::string text = RenderTable(BuildPodTable(rules));
  EXPECT_NE(text.find("[ cmp eq reg 1 0x0000883e ]"), std::string::npos) << text;
  EXPECT_NE(text.find("[ bitwise reg 1 = ( reg 1 & 0x00000007 ) ^ 0x00000000 ]"),
            std::string::npos);
  EXPECT_NE(text.find("[ bitwise reg 1 = ( reg 1 & 0xffffff0f ) ^ 0x00000020 ]"),
            std::string::npos);
  EXPECT_NE(text, RenderTable(BuildPodTable(PodRules{})));
}

// The text the builder gives every rule, as the table `nft list` would print, against
// tests/goldens/*.nft (which nftables_backend_test checks against the kernel's listing and nft's
// own compilation). PROBESNAT_REGENERATE_GOLDENS=1 rewrites the files instead.
TEST(NftRuleset, TableTextsMatchTheGoldenFiles) {
  for (const testing::GoldenTable& g : testing::GoldenTables()) {
    SCOPED_TRACE(testing::GoldenPath(g.name));
    const std::string text = NftListText(g.Build());
    if (testing::RegeneratingGoldens()) {
      EXPECT_TRUE(testing::WriteGolden(g.name, text));
      continue;
    }
    EXPECT_EQ(text, testing::ReadGolden(g.name));
  }
}

TEST(NftRuleset, EveryRuleHasItsText) {
  for (const testing::GoldenTable& g : testing::GoldenTables()) {
    NftTable t = g.Build();
    ASSERT_FALSE(t.rules.empty());
    for (const NftRule& r : t.rules) {
      EXPECT_FALSE(r.text.empty()) << g.name;
    }
  }
}

TEST(NftBatch, FramesMessagesAndLabelsThemBySequenceNumber) {
  NftTable t = BuildPodTable(PodRules{});
  NftBatch batch(1000);
  AppendReplaceTable(batch, t);
  // add, delete, add table; 4 chains; 14 rules.
  ASSERT_EQ(batch.message_count(), 3u + 4u + 14u);
  EXPECT_EQ(batch.LabelOf(1000), "");
  EXPECT_EQ(batch.LabelOf(1001), "table inet probesnat");
  EXPECT_EQ(batch.LabelOf(1004), "chain mangle_prerouting of table inet probesnat");
  EXPECT_EQ(batch.LabelOf(1008),
            "rule \"meta mark & 0x00000fff == 0x00000539 ct mark set ct mark & 0xfffff111 | "
            "0x00000111\" in chain mangle_prerouting of table inet probesnat");
  EXPECT_EQ(batch.LabelOf(1022), "");

  absl::string_view bytes = batch.Finish();
  const auto* first = reinterpret_cast<const nlmsghdr*>(bytes.data());
  EXPECT_EQ(first->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
  EXPECT_EQ(first->nlmsg_seq, 1000u);
  size_t offset = 0;
  const nlmsghdr* last = first;
  size_t count = 0;
  while (offset < bytes.size()) {
    last = reinterpret_cast<const nlmsghdr*>(bytes.data() + offset);
    if (count > 0 && last->nlmsg_type != NFNL_MSG_BATCH_END) {
      EXPECT_EQ(last->nlmsg_seq, 1000u + count);
      EXPECT_TRUE(last->nlmsg_flags & NLM_F_ACK);
    }
    offset += NLMSG_ALIGN(last->nlmsg_len);
    ++count;
  }
  EXPECT_EQ(last->nlmsg_type, NFNL_MSG_BATCH_END);
  EXPECT_EQ(count, batch.message_count() + 2);
  EXPECT_EQ(batch.end_seq(), 1022u);
}

}  // namespace
}  // namespace probesnat::netfilter
