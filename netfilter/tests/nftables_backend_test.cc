// The nftables backend against the real kernel, inside network namespaces created by the test
// (the machine's own namespace is never touched; the "host" side is a namespace too).
#include "netfilter/nftables_backend.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "netfilter/netns.h"
#include "netfilter/nft_ownership.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"
#include "netfilter/testing/capabilities.h"
#include "netfilter/testing/scoped_netns.h"
#include "netfilter/tests/golden_tables.h"

namespace probesnat::netfilter {

// gtest prints members as text (found by argument-dependent lookup).
void PrintTo(const HostMember& m, std::ostream* os) {
  *os << m.ip.ToString() << " owner \"" << m.owner << "\"";
}

namespace {

using ::probesnat::netfilter::testing::Run;
using ::probesnat::netfilter::testing::RunAndCapture;
using testing::ScopedNetns;

#define REQUIRE_ROOT()                                                                    \
  if (::geteuid() != 0) {                                                                 \
    GTEST_SKIP() << "needs root: creates network namespaces and nftables tables in them"; \
  }

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

constexpr char kUidA[] = "6f1b3c2a-8d4e-4f7a-9b21-0c5d7e9f1a23";
constexpr char kUidB[] = "a0e4d2c1-3b5f-4e68-8a79-1d2c3b4a5f60";
const TableOwner kOwner{"0d8f1c2e-5b7a-4e39-9a51-7c3f0e2b6d14", 7};

// Members owned by `owner`.
std::vector<HostMember> Owned(const std::string& owner, const std::vector<IpAddress>& ips) {
  std::vector<HostMember> out;
  for (const IpAddress& ip : ips) {
    out.push_back(HostMember{ip, owner});
  }
  return out;
}

std::string Nft(const ScopedNetns& ns, const std::string& args) {
  absl::StatusOr<std::string> out =
      RunAndCapture(absl::StrCat("ip netns exec ", ns.name(), " nft ", args));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

void NftOrDie(const ScopedNetns& ns, const std::string& args) {
  ASSERT_TRUE(testing::Run(absl::StrCat("ip netns exec ", ns.name(), " nft ", args)).ok()) << args;
}

// nft prints with tabs; the goldens below are written with two spaces per level.
std::string Tabs(const std::string& text) { return absl::StrReplaceAll(text, {{"  ", "\t"}}); }

// A pod table's golden text (written without owner) as nft lists it once ApplyPod wrote kOwner.
std::string WithOwner(const std::string& golden) {
  const size_t eol = golden.find('\n');
  return absl::StrCat(golden.substr(0, eol + 1), "\tcomment \"probesnat pod ", kOwner.uid,
                      " generation ", kOwner.generation, "\"\n", golden.substr(eol + 1));
}

constexpr char kHostGoldenCustomWithMembers[] = R"(table inet probesnat {
  set pods_v4 {
    type ipv4_addr
    elements = { 10.1.0.7 comment "6f1b3c2a-8d4e-4f7a-9b21-0c5d7e9f1a23" }
  }

  set pods_v6 {
    type ipv6_addr
    elements = { fd00:1::7 comment "a0e4d2c1-3b5f-4e68-8a79-1d2c3b4a5f60" }
  }

  chain nat_postrouting {
    type nat hook postrouting priority srcnat - 10; policy accept;
    meta l4proto tcp ip daddr @pods_v4 meta skuid >= 0 snat ip to 169.254.99.1
    meta l4proto tcp ip6 daddr @pods_v6 meta skuid >= 0 snat ip6 to fd00:99::1
  }

  chain forward_antispoof {
    type filter hook forward priority filter - 10; policy accept;
    ip saddr 169.254.99.1 ip daddr @pods_v4 drop
    ip6 saddr fd00:99::1 ip6 daddr @pods_v6 drop
  }
}
)";

constexpr char kForeignTable[] = R"(table ip foreign {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 22 counter packets 0 bytes 0 accept
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth9" masquerade
  }
}
table inet other {
  set s {
    type ipv4_addr
    elements = { 10.0.0.1 }
  }
  chain c {
    ip daddr @s drop
  }
}
)";

using testing::CustomHostRules;
using testing::CustomPodRules;
using testing::EnrolledWithOnly;
using testing::ReadGolden;

class NftablesBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    ScopedNetns::RemoveStale();
    absl::StatusOr<ScopedNetns> host = ScopedNetns::Create("host");
    ASSERT_TRUE(host.ok()) << host.status();
    host_.emplace(*std::move(host));
    absl::StatusOr<ScopedNetns> pod = ScopedNetns::Create("pod");
    ASSERT_TRUE(pod.ok()) << pod.status();
    pod_.emplace(*std::move(pod));
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeNftablesBackend(host_->path());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }

  void TearDown() override {
    backend_.reset();  // closes its sockets before the namespaces go
  }

  Backend& backend() { return *backend_; }

  std::optional<ScopedNetns> host_;
  std::optional<ScopedNetns> pod_;
  std::unique_ptr<Backend> backend_;
};

// Without CAP_NET_ADMIN the kernel refuses every nftables message with EPERM: the agent lacks a
// privilege, so FAILED_PRECONDITION naming it (not UNAVAILABLE, which says "retry"), and nothing
// is written.
TEST_F(NftablesBackendTest, WithoutNetAdminARefusedTransactionIsFailedPreconditionNamingIt) {
  std::string refused = testing::StatusInChild([&]() -> absl::Status {
    if (!testing::DropEffectiveCapability(CAP_NET_ADMIN)) {
      return absl::InternalError("capset failed");
    }
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeNftablesBackend(host_->path());
    if (!backend.ok()) {
      return backend.status();
    }
    return (*backend)->ApplyPod(pod_->path(), PodRules{}, kOwner);
  });
  EXPECT_TRUE(absl::StartsWith(refused, "FAILED_PRECONDITION ")) << refused;
  EXPECT_TRUE(absl::StrContains(refused, "CAP_NET_ADMIN")) << refused;
  EXPECT_EQ(Nft(*pod_, "list tables"), "");
}

TEST_F(NftablesBackendTest, EnsureHostCreatesTheGoldenTable) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  EXPECT_EQ(Nft(*host_, "list table inet probesnat"), ReadGolden("host_default"));
  // Nothing but our table.
  EXPECT_EQ(Nft(*host_, "list tables"), "table inet probesnat\n");
}

TEST_F(NftablesBackendTest, EnsureHostWithOtherValuesReplacesRulesAndKeepsMembers) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(
      backend().UpdateHostMembers({{Ip("10.1.0.7"), kUidA}, {Ip("fd00:1::7"), kUidB}}, {}).ok());
  absl::Status st = backend().EnsureHost(CustomHostRules());
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Nft(*host_, "list table inet probesnat"), Tabs(kHostGoldenCustomWithMembers));
}

TEST_F(NftablesBackendTest, EnsureHostLeavesAMatchingTableAlone) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  std::string with_handles = Nft(*host_, "-a list table inet probesnat");
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  EXPECT_EQ(Nft(*host_, "-a list table inet probesnat"), with_handles);
}

// An agent restart: a new backend adopts the tables the previous one left, without touching them.
TEST_F(NftablesBackendTest, ANewBackendAdoptsExistingTablesUnchanged) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(
      backend().UpdateHostMembers({{Ip("10.6.0.1"), kUidA}, {Ip("fd00:6::1"), kUidB}}, {}).ok());
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, kOwner).ok());
  backend_.reset();
  const std::string host_before = Nft(*host_, "-a list ruleset");
  const std::string pod_before = Nft(*pod_, "-a list ruleset");

  absl::StatusOr<std::unique_ptr<Backend>> restarted = MakeNftablesBackend(host_->path());
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  absl::StatusOr<HostObservation> host = (*restarted)->ObserveHost(HostRules{});
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_TRUE(host->rules_match);
  EXPECT_EQ(host->members,
            (std::vector<HostMember>{{Ip("10.6.0.1"), kUidA}, {Ip("fd00:6::1"), kUidB}}));
  absl::StatusOr<PodObservation> pod = (*restarted)->ObservePod(pod_->path(), PodRules{});
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_TRUE(pod->rules_match);
  EXPECT_EQ(pod->owner, kOwner);
  ASSERT_TRUE((*restarted)->EnsureHost(HostRules{}).ok());
  EXPECT_EQ(Nft(*host_, "-a list ruleset"), host_before);
  EXPECT_EQ(Nft(*pod_, "-a list ruleset"), pod_before);
}

TEST_F(NftablesBackendTest, ObserveHostReportsAbsentPresentDriftedAndMembers) {
  absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_FALSE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);
  EXPECT_TRUE(obs->members.empty());

  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(
      backend()
          .UpdateHostMembers(Owned(kUidA, {Ip("10.0.0.9"), Ip("fd00::2"), Ip("10.0.0.1")}), {})
          .ok());
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_TRUE(obs->table_present);
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members, Owned(kUidA, {Ip("10.0.0.1"), Ip("10.0.0.9"), Ip("fd00::2")}));

  // Other rules asked for: no match.
  obs = backend().ObserveHost(CustomHostRules());
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);

  // Someone adds a rule to our chain.
  NftOrDie(*host_, "add rule inet probesnat nat_postrouting counter");
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);
  // EnsureHost repairs it and keeps the members.
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members, Owned(kUidA, {Ip("10.0.0.1"), Ip("10.0.0.9"), Ip("fd00::2")}));

  // Someone replaces a set with one of another type: drift, and its members are not ours.
  NftOrDie(*host_,
           "'flush chain inet probesnat nat_postrouting; flush chain inet probesnat "
           "forward_antispoof; delete set inet probesnat pods_v6; "
           "add set inet probesnat pods_v6 { type inet_service; }'");
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_FALSE(obs->rules_match);
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members, Owned(kUidA, {Ip("10.0.0.1"), Ip("10.0.0.9")}));

  // Someone deletes the anti-spoofing chain: drift, repaired with the members kept.
  NftOrDie(*host_, "delete chain inet probesnat forward_antispoof");
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members, Owned(kUidA, {Ip("10.0.0.1"), Ip("10.0.0.9")}));
  EXPECT_EQ(Nft(*host_, "list chain inet probesnat forward_antispoof"),
            Tabs("table inet probesnat {\n"
                 "  chain forward_antispoof {\n"
                 "    type filter hook forward priority filter - 10; policy accept;\n"
                 "    ip saddr 169.254.7.127 ip daddr @pods_v4 drop\n"
                 "    ip6 saddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff ip6 daddr @pods_v6 drop\n"
                 "  }\n"
                 "}\n"));

  // Someone deletes its v6 rule, empties it, or re-creates it at another priority (after an
  // accepting filter chain): drift each time, repaired each time.
  auto delete_v6_rule = [&] {
    std::string listing = Nft(*host_, "-a list chain inet probesnat forward_antispoof");
    const std::string marker = "@pods_v6 drop # handle ";
    size_t pos = listing.find(marker);
    ASSERT_NE(pos, std::string::npos) << listing;
    std::string handle = listing.substr(pos + marker.size());
    handle = handle.substr(0, handle.find('\n'));
    NftOrDie(*host_, absl::StrCat("delete rule inet probesnat forward_antispoof handle ", handle));
  };
  const std::vector<std::string> edits = {
      "",  // delete_v6_rule
      "flush chain inet probesnat forward_antispoof",
      "'delete chain inet probesnat forward_antispoof; add chain inet probesnat "
      "forward_antispoof { type filter hook forward priority 10; }; add rule inet probesnat "
      "forward_antispoof ip saddr 169.254.7.127 ip daddr @pods_v4 drop; add rule inet "
      "probesnat forward_antispoof ip6 saddr fd16:9254:7127:1337:ffff:ffff:ffff:ffff ip6 daddr "
      "@pods_v6 drop'",
  };
  for (const std::string& edit : edits) {
    SCOPED_TRACE(edit.empty() ? "delete the v6 rule" : edit);
    if (edit.empty()) {
      delete_v6_rule();
    } else {
      NftOrDie(*host_, edit);
    }
    obs = backend().ObserveHost(HostRules{});
    ASSERT_TRUE(obs.ok());
    EXPECT_TRUE(obs->table_present);
    EXPECT_FALSE(obs->rules_match);
    ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
    obs = backend().ObserveHost(HostRules{});
    ASSERT_TRUE(obs.ok());
    EXPECT_TRUE(obs->rules_match);
    EXPECT_EQ(obs->members, Owned(kUidA, {Ip("10.0.0.1"), Ip("10.0.0.9")}));
  }

  // Someone deletes our table.
  NftOrDie(*host_, "delete table inet probesnat");
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_FALSE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);
  EXPECT_TRUE(obs->members.empty());
}

TEST_F(NftablesBackendTest, UpdateHostMembersIsIdempotent) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  auto members = [&] {
    absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
    EXPECT_TRUE(obs.ok()) << obs.status();
    return obs.ok() ? obs->members : std::vector<HostMember>{};
  };
  std::vector<HostMember> both = Owned(kUidA, {Ip("10.2.0.1"), Ip("fd00:2::1")});
  ASSERT_TRUE(backend().UpdateHostMembers(both, {}).ok());
  absl::Status st = backend().UpdateHostMembers(both, {});  // already there
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(members(), both);

  st = backend().UpdateHostMembers({}, {Ip("10.9.9.9"), Ip("fd00:9::9")});  // never there
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(members(), both);

  st = backend().UpdateHostMembers({{Ip("10.2.0.2"), kUidB}}, {Ip("fd00:2::1")});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(members(), (std::vector<HostMember>{{Ip("10.2.0.1"), kUidA}, {Ip("10.2.0.2"), kUidB}}));

  st = backend().UpdateHostMembers({}, {Ip("fd00:2::1"), Ip("10.2.0.1")});  // one already gone
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(members(), (std::vector<HostMember>{{Ip("10.2.0.2"), kUidB}}));

  // In both lists: removal wins.
  st = backend().UpdateHostMembers({{Ip("10.2.0.3"), kUidA}}, {Ip("10.2.0.3")});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(members(), (std::vector<HostMember>{{Ip("10.2.0.2"), kUidB}}));
  // Present already and in both lists: removed too.
  st = backend().UpdateHostMembers({{Ip("10.2.0.2"), kUidA}}, {Ip("10.2.0.2")});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_TRUE(members().empty());
  ASSERT_TRUE(backend().UpdateHostMembers({{Ip("10.2.0.2"), kUidB}}, {}).ok());

  // The host rule count never grows with members.
  std::vector<HostMember> many;
  for (int i = 0; i < 200; ++i) {
    many.push_back(
        {IpAddress::V4({10, 3, static_cast<uint8_t>(i / 250), static_cast<uint8_t>(i % 250)}),
         kUidA});
  }
  ASSERT_TRUE(backend().UpdateHostMembers(many, {}).ok());
  EXPECT_EQ(members().size(), 201u);
  std::string listing = Nft(*host_, "list chain inet probesnat nat_postrouting");
  size_t snat_rules = 0;
  for (size_t pos = listing.find(" snat ip"); pos != std::string::npos;
       pos = listing.find(" snat ip", pos + 1)) {
    ++snat_rules;
  }
  EXPECT_EQ(snat_rules, 2u);
  listing = Nft(*host_, "list chain inet probesnat forward_antispoof");
  size_t drop_rules = 0;
  for (size_t pos = listing.find(" drop\n"); pos != std::string::npos;
       pos = listing.find(" drop\n", pos + 1)) {
    ++drop_rules;
  }
  EXPECT_EQ(drop_rules, 2u);
}

// Thousands of messages in one batch: every ack is read, none is lost.
TEST_F(NftablesBackendTest, LargeMemberUpdatesAreOneTransactionEach) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  std::vector<HostMember> many;
  std::vector<IpAddress> addresses;
  for (int i = 0; i < 2000; ++i) {
    uint8_t hi = static_cast<uint8_t>(i >> 8), lo = static_cast<uint8_t>(i);
    addresses.push_back(IpAddress::V4({10, 7, hi, lo}));
    addresses.push_back(IpAddress::V6({0xfd, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, hi, lo}));
  }
  for (size_t i = 0; i < addresses.size(); ++i) {
    many.push_back({addresses[i], absl::StrCat("pod-", i % 100)});
  }
  absl::Status st = backend().UpdateHostMembers(many, {});
  ASSERT_TRUE(st.ok()) << st;
  absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  std::sort(many.begin(), many.end());
  EXPECT_EQ(obs->members, many);
  st = backend().UpdateHostMembers({}, addresses);
  ASSERT_TRUE(st.ok()) << st;
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_TRUE(obs->members.empty());
}

TEST_F(NftablesBackendTest, UpdateHostMembersWithoutOurTableNamesTheSet) {
  absl::Status st = backend().UpdateHostMembers({{Ip("10.4.0.1"), kUidA}}, {});
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_TRUE(
      absl::StrContains(st.message(), "element 10.4.0.1 of set pods_v4 of table inet probesnat"))
      << st;
  EXPECT_TRUE(absl::StrContains(st.message(), host_->path())) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "No such file or directory")) << st;
}

TEST_F(NftablesBackendTest, RemoveHostDeletesOnlyOurTable) {
  ASSERT_TRUE(backend().RemoveHost().ok());  // absent is fine
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(backend().RemoveHost().ok());
  EXPECT_EQ(Nft(*host_, "list tables"), "");
  ASSERT_TRUE(backend().RemoveHost().ok());
}

TEST_F(NftablesBackendTest, ApplyPodCreatesTheGoldenTables) {
  absl::Status st = backend().ApplyPod(pod_->path(), PodRules{}, kOwner);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Nft(*pod_, "list table inet probesnat"), WithOwner(ReadGolden("pod_default")));

  st = backend().ApplyPod(pod_->path(), CustomPodRules(), kOwner);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Nft(*pod_, "list table inet probesnat"),
            WithOwner(ReadGolden("pod_custom_no_inbound")));

  PodRules no_capture;
  no_capture.inbound_capture = false;
  no_capture.outbound_capture = false;
  st = backend().ApplyPod(pod_->path(), no_capture, kOwner);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Nft(*pod_, "list table inet probesnat"), WithOwner(ReadGolden("pod_no_capture")));

  st = backend().ApplyPod(pod_->path(), PodRules{}, kOwner);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Nft(*pod_, "list table inet probesnat"), WithOwner(ReadGolden("pod_default")));
  EXPECT_EQ(Nft(*pod_, "list tables"), "table inet probesnat\n");
  // The host namespace is not touched by pod operations.
  EXPECT_EQ(Nft(*host_, "list tables"), "");
}

// What the kernel lists after EnsureHost/ApplyPod is the golden file, which is the text the
// builder gave the rules (nft_ruleset_test).
TEST_F(NftablesBackendTest, TheKernelListsEveryGoldenTableAsTheBuilderWroteIt) {
  for (const testing::GoldenTable& g : testing::GoldenTables()) {
    SCOPED_TRACE(testing::GoldenPath(g.name));
    if (g.host_rules.origin == ProbeOrigin::kCgroup) {
      continue;  // names a cgroup this host lacks: cgroup_origin_packets_test, with a real one
    }
    absl::Status st = g.host ? backend().EnsureHost(g.host_rules)
                             : backend().ApplyPod(pod_->path(), g.pod_rules, kOwner);
    ASSERT_TRUE(st.ok()) << st;
    const std::string listed = Nft(g.host ? *host_ : *pod_, "list table inet probesnat");
    EXPECT_EQ(listed, g.host ? ReadGolden(g.name) : WithOwner(ReadGolden(g.name)));
    NftTable built = g.Build();
    if (!g.host) {
      built.comment = PodTableComment(kOwner);
    }
    EXPECT_EQ(listed, NftListText(built));
  }
}

// nft itself compiles the golden text into the kernel; what it installs equals what we install.
TEST_F(NftablesBackendTest, NftCompilesTheGoldenTextToOurBytecode) {
  for (const testing::GoldenTable& g : testing::GoldenTables()) {
    SCOPED_TRACE(testing::GoldenPath(g.name));
    if (g.host_rules.origin == ProbeOrigin::kCgroup) {
      continue;  // names a cgroup this host lacks: cgroup_origin_packets_test, with a real one
    }
    absl::StatusOr<ScopedNetns> scratch = ScopedNetns::Create("nft");
    ASSERT_TRUE(scratch.ok()) << scratch.status();
    absl::Status st = testing::Run(
        absl::StrCat("ip netns exec ", scratch->name(), " nft -f ", testing::GoldenPath(g.name)));
    ASSERT_TRUE(st.ok()) << st;

    absl::StatusOr<UniqueFd> ns = OpenNetns(scratch->path());
    ASSERT_TRUE(ns.ok());
    absl::StatusOr<NftSocket> socket = NftSocket::OpenIn(ns->get(), "scratch");
    ASSERT_TRUE(socket.ok()) << socket.status();
    absl::StatusOr<NftTableState> state = ReadTable(*socket, kTableName, {});
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_TRUE(state->present);
    EXPECT_EQ(RenderTable(state->table), RenderTable(g.Build()));
  }
}

TEST_F(NftablesBackendTest, ObservePodReportsNamespaceTableAndDrift) {
  absl::StatusOr<PodObservation> obs =
      backend().ObservePod("/run/netns/psnt-does-not-exist", PodRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_FALSE(obs->namespace_exists);
  EXPECT_FALSE(obs->table_present);

  obs = backend().ObservePod(pod_->path(), PodRules{});
  ASSERT_TRUE(obs.ok()) << obs.status();
  EXPECT_TRUE(obs->namespace_exists);
  EXPECT_FALSE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);

  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, kOwner).ok());
  obs = backend().ObservePod(pod_->path(), PodRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->table_present);
  EXPECT_TRUE(obs->rules_match);

  PodRules other;
  other.outbound_capture = false;
  obs = backend().ObservePod(pod_->path(), other);
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);

  // Someone deletes one of our rules.
  std::string listing = Nft(*pod_, "-a list chain inet probesnat nat_prerouting");
  size_t pos = listing.find("tcp dport 15008 accept # handle ");
  ASSERT_NE(pos, std::string::npos) << listing;
  std::string handle = listing.substr(pos + std::string("tcp dport 15008 accept # handle ").size());
  handle = handle.substr(0, handle.find('\n'));
  NftOrDie(*pod_, absl::StrCat("delete rule inet probesnat nat_prerouting handle ", handle));
  obs = backend().ObservePod(pod_->path(), PodRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);

  // Someone changes a chain's priority.
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, kOwner).ok());
  NftOrDie(*pod_,
           "'delete chain inet probesnat mangle_output; add chain inet probesnat mangle_output "
           "{ type route hook output priority 0; }; add rule inet probesnat mangle_output ct mark "
           "& 0xfff == 0x111 meta mark set ct mark'");
  obs = backend().ObservePod(pod_->path(), PodRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_FALSE(obs->rules_match);

  // Someone deletes our table.
  NftOrDie(*pod_, "delete table inet probesnat");
  obs = backend().ObservePod(pod_->path(), PodRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->namespace_exists);
  EXPECT_FALSE(obs->table_present);
  EXPECT_FALSE(obs->rules_match);
}

// A pod enrolled with one family gets that family's probe accept only; the drift check sees the
// table it wrote as matching (no endless repair) and a table of the other shape as drift.
TEST_F(NftablesBackendTest, SingleFamilyPodTableIsTheGoldenAndReadsBackAsMatching) {
  for (const auto& [family, golden] :
       {std::pair{IpFamily::kV4, "pod_v4_only"}, std::pair{IpFamily::kV6, "pod_v6_only"}}) {
    SCOPED_TRACE(family == IpFamily::kV4 ? "v4 only" : "v6 only");
    const PodRules rules = EnrolledWithOnly(family);
    ASSERT_TRUE(backend().ApplyPod(pod_->path(), rules, kOwner).ok());
    EXPECT_EQ(Nft(*pod_, "list table inet probesnat"), WithOwner(ReadGolden(golden)));
    absl::StatusOr<PodObservation> obs = backend().ObservePod(pod_->path(), rules);
    ASSERT_TRUE(obs.ok()) << obs.status();
    EXPECT_TRUE(obs->table_present);
    EXPECT_TRUE(obs->rules_match);
    obs = backend().ObservePod(pod_->path(), PodRules{});
    ASSERT_TRUE(obs.ok()) << obs.status();
    EXPECT_FALSE(obs->rules_match);

    // Both families enrolled again: the full table is drift for the single-family rules.
    ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, kOwner).ok());
    EXPECT_EQ(Nft(*pod_, "list table inet probesnat"), WithOwner(ReadGolden("pod_default")));
    obs = backend().ObservePod(pod_->path(), rules);
    ASSERT_TRUE(obs.ok()) << obs.status();
    EXPECT_FALSE(obs->rules_match);
  }
}

TEST_F(NftablesBackendTest, ForeignTablesAreNeverTouched) {
  std::string file = absl::StrCat("/tmp/", host_->name(), "-foreign.nft");
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(kForeignTable, f);
  std::fclose(f);
  for (const ScopedNetns* ns : {&*host_, &*pod_}) {
    NftOrDie(*ns, absl::StrCat("-f ", file));
  }
  std::remove(file.c_str());
  auto foreign = [&](const ScopedNetns& ns) {
    return Nft(ns, "-a list table ip foreign") + Nft(ns, "-a list table inet other");
  };
  const std::string host_before = foreign(*host_);
  const std::string pod_before = foreign(*pod_);
  ASSERT_TRUE(absl::StrContains(host_before, "masquerade")) << host_before;

  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(backend().UpdateHostMembers(Owned(kUidA, {Ip("10.0.0.1"), Ip("fd00::1")}), {}).ok());
  ASSERT_TRUE(backend().EnsureHost(CustomHostRules()).ok());
  ASSERT_TRUE(backend().UpdateHostMembers({}, {Ip("10.0.0.1")}).ok());
  ASSERT_TRUE(backend().ObserveHost(HostRules{}).ok());
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, kOwner).ok());
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), CustomPodRules(), kOwner).ok());
  ASSERT_TRUE(backend().ObservePod(pod_->path(), PodRules{}).ok());
  EXPECT_EQ(foreign(*host_), host_before);
  EXPECT_EQ(foreign(*pod_), pod_before);

  ASSERT_TRUE(backend().RemovePod(pod_->path()).ok());
  ASSERT_TRUE(backend().RemoveHost().ok());
  EXPECT_EQ(foreign(*host_), host_before);
  EXPECT_EQ(foreign(*pod_), pod_before);
  EXPECT_EQ(Nft(*host_, "list tables"), "table ip foreign\ntable inet other\n");
  EXPECT_EQ(Nft(*pod_, "list tables"), "table ip foreign\ntable inet other\n");
}

TEST_F(NftablesBackendTest, RemovePodDeletesOurTableAndToleratesAbsence) {
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, kOwner).ok());
  ASSERT_TRUE(backend().RemovePod(pod_->path()).ok());
  EXPECT_EQ(Nft(*pod_, "list tables"), "");
  EXPECT_TRUE(backend().RemovePod(pod_->path()).ok());  // no table
  EXPECT_TRUE(backend().RemovePod("/run/netns/psnt-does-not-exist").ok());
  EXPECT_TRUE(backend().RemovePod("/nonexistent-dir/ns").ok());
}

TEST_F(NftablesBackendTest, NamespacePathErrors) {
  const std::string missing = "/run/netns/psnt-does-not-exist";
  absl::Status st = backend().ApplyPod(missing, PodRules{}, kOwner);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), missing)) << st;
  EXPECT_EQ(MakeNftablesBackend(missing).status().code(), absl::StatusCode::kNotFound);

  char regular[] = "/tmp/psnt-regular-XXXXXX";
  int fd = ::mkstemp(regular);
  ASSERT_GE(fd, 0);
  ::close(fd);
  st = backend().ApplyPod(regular, PodRules{}, kOwner);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), regular)) << st;
  EXPECT_EQ(backend().RemovePod(regular).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend().ObservePod(regular, PodRules{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeNftablesBackend(regular).status().code(), absl::StatusCode::kInvalidArgument);
  // Another kind of namespace is not a network namespace either.
  EXPECT_EQ(backend().ApplyPod("/proc/self/ns/uts", PodRules{}, kOwner).code(),
            absl::StatusCode::kInvalidArgument);
  ::unlink(regular);
}

// A hostNetwork pod's namespace path is the host's: our pod and host tables share a name, so pod
// operations there would replace or delete the host table.
TEST_F(NftablesBackendTest, PodOperationsRefuseTheHostNamespace) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  const std::string before = Nft(*host_, "-a list table inet probesnat");
  absl::Status st = backend().ApplyPod(host_->path(), PodRules{}, kOwner);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "is the host network namespace")) << st;
  EXPECT_EQ(backend().RemovePod(host_->path()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend().ObservePod(host_->path(), PodRules{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Nft(*host_, "-a list table inet probesnat"), before);
}

// A table inet probesnat owned by another netlink socket (NFT_TABLE_F_OWNER): the kernel refuses
// to let anyone else modify it.
TEST_F(NftablesBackendTest, KernelRefusalIsUnavailableAndNamesTheObjectAndNamespace) {
  absl::StatusOr<UniqueFd> ns = OpenNetns(pod_->path());
  ASSERT_TRUE(ns.ok());
  absl::StatusOr<NftSocket> owner = NftSocket::OpenIn(ns->get(), "test owner");
  ASSERT_TRUE(owner.ok()) << owner.status();
  {
    NftnlTablePtr t(nftnl_table_alloc());
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, kTableName);
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
    NftBatch batch = owner->NewBatch();
    batch.AddTable(NFT_MSG_NEWTABLE, NLM_F_CREATE, t.get(), "owned table");
    ASSERT_TRUE(owner->Commit(batch).ok());
  }
  absl::Status st = backend().ApplyPod(pod_->path(), PodRules{}, kOwner);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "table inet probesnat: Operation not permitted"))
      << st;
  EXPECT_TRUE(absl::StrContains(st.message(), pod_->path())) << st;
  EXPECT_EQ(backend().RemovePod(pod_->path()).code(), absl::StatusCode::kUnavailable);
  // Refused as a whole: the owned table is still there, empty.
  std::string owned = Nft(*pod_, "list table inet probesnat");
  EXPECT_TRUE(absl::StrContains(owned, "flags owner")) << owned;
  EXPECT_FALSE(absl::StrContains(owned, "chain")) << owned;

  // Once its owner is gone the kernel removes it, and we can apply.
  *owner = std::move(*NftSocket::Open("placeholder"));
  st = backend().ApplyPod(pod_->path(), PodRules{}, kOwner);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(Nft(*pod_, "list table inet probesnat"), WithOwner(ReadGolden("pod_default")));
}

// A batch is applied all or nothing, and a refusal is attributed to the message that caused it
// by its sequence number.
TEST_F(NftablesBackendTest, RefusedBatchChangesNothingAndNamesOnlyTheFailingMessage) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  const std::string before = Nft(*host_, "-a list table inet probesnat");

  absl::StatusOr<UniqueFd> ns = OpenNetns(host_->path());
  ASSERT_TRUE(ns.ok());
  absl::StatusOr<NftSocket> socket = NftSocket::OpenIn(ns->get(), "host under test");
  ASSERT_TRUE(socket.ok());
  NftTable replacement = BuildHostTable(CustomHostRules());
  NftBatch batch = socket->NewBatch();
  AppendReplaceTable(batch, replacement);
  // A 3-byte key for an ipv4_addr set.
  NftnlSetPtr bad(nftnl_set_alloc());
  nftnl_set_set_u32(bad.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(bad.get(), NFTNL_SET_TABLE, kTableName);
  nftnl_set_set_str(bad.get(), NFTNL_SET_NAME, kHostSetV4);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  const uint8_t key[3] = {10, 0, 0};
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key));
  nftnl_set_elem_add(bad.get(), e);
  batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, bad.get(), "the malformed element");
  NftnlSetPtr good(nftnl_set_alloc());
  nftnl_set_set_u32(good.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(good.get(), NFTNL_SET_TABLE, kTableName);
  nftnl_set_set_str(good.get(), NFTNL_SET_NAME, kHostSetV4);
  nftnl_set_elem* g = nftnl_set_elem_alloc();
  const uint8_t good_key[4] = {10, 0, 0, 1};
  nftnl_set_elem_set(g, NFTNL_SET_ELEM_KEY, good_key, sizeof(good_key));
  nftnl_set_elem_add(good.get(), g);
  batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, good.get(), "a well-formed element");

  absl::Status st = socket->Commit(batch);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "host under test")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "the malformed element: ")) << st;
  EXPECT_FALSE(absl::StrContains(st.message(), "well-formed")) << st;
  EXPECT_FALSE(absl::StrContains(st.message(), "chain nat_postrouting")) << st;
  EXPECT_EQ(Nft(*host_, "-a list table inet probesnat"), before);

  // The same socket is usable afterwards.
  NftBatch ok_batch = socket->NewBatch();
  ok_batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, good.get(), "a well-formed element");
  st = socket->Commit(ok_batch);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(NftablesBackendTest, HostBackendWorksInTheCallingNamespace) {
  // MakeNftablesBackend() binds to the caller's namespace; run it on a thread inside the test
  // host namespace so the machine's own namespace is never touched.
  absl::Status st = RunInNetns(host_->path(), [&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<Backend>> b = MakeNftablesBackend();
    if (!b.ok()) {
      return b.status();
    }
    if (absl::Status s = (*b)->EnsureHost(HostRules{}); !s.ok()) {
      return s;
    }
    return (*b)->UpdateHostMembers({{Ip("10.5.0.1"), kUidA}}, {});
  });
  ASSERT_TRUE(st.ok()) << st;
  absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members, Owned(kUidA, {Ip("10.5.0.1")}));
}

}  // namespace
}  // namespace probesnat::netfilter
