// Whom the kernel's objects belong to (element and table comments) and generation-bound commits,
// against the real kernel inside network namespaces created by the test (the machine's own
// namespace is never touched; the "host" side is a namespace too).
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <unistd.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "netfilter/netns.h"
#include "netfilter/nft_ownership.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"
#include "netfilter/nftables_backend.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::netfilter {

// gtest prints members as text (found by argument-dependent lookup).
void PrintTo(const HostMember& m, std::ostream* os) {
  *os << m.ip.ToString() << " owner \"" << m.owner << "\"";
}

namespace {

using ::probesnat::netfilter::testing::RunAndCapture;
using testing::ScopedNetns;

#define REQUIRE_ROOT()                                                                    \
  if (::geteuid() != 0) {                                                                 \
    GTEST_SKIP() << "needs root: creates network namespaces and nftables tables in them"; \
  }

constexpr char kUidA[] = "6f1b3c2a-8d4e-4f7a-9b21-0c5d7e9f1a23";
constexpr char kUidB[] = "a0e4d2c1-3b5f-4e68-8a79-1d2c3b4a5f60";

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

class NftablesOwnershipTest : public ::testing::Test {
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
    NftablesBackendHooks hooks;
    hooks.before_host_commit = [this] {
      if (before_host_commit_) {
        before_host_commit_();
      }
    };
    absl::StatusOr<std::unique_ptr<Backend>> backend =
        MakeNftablesBackend(host_->path(), std::move(hooks));
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }

  void TearDown() override { backend_.reset(); }

  Backend& backend() { return *backend_; }

  std::string Nft(const ScopedNetns& ns, const std::string& args) {
    absl::StatusOr<std::string> out =
        RunAndCapture(absl::StrCat("ip netns exec ", ns.name(), " nft ", args));
    EXPECT_TRUE(out.ok()) << args << ": " << out.status();
    return out.ok() ? *out : "";
  }

  std::vector<HostMember> Members() {
    absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
    EXPECT_TRUE(obs.ok()) << obs.status();
    return obs.ok() ? obs->members : std::vector<HostMember>{};
  }

  PodObservation ObservePod(const PodRules& rules = PodRules{}) {
    absl::StatusOr<PodObservation> obs = backend().ObservePod(pod_->path(), rules);
    EXPECT_TRUE(obs.ok()) << obs.status();
    return obs.ok() ? *obs : PodObservation{};
  }

  // A socket of our own in `ns`, next to the backend's.
  NftSocket SocketIn(const ScopedNetns& ns) {
    absl::StatusOr<UniqueFd> fd = OpenNetns(ns.path());
    EXPECT_TRUE(fd.ok()) << fd.status();
    absl::StatusOr<NftSocket> socket = NftSocket::OpenIn(fd->get(), "test socket");
    EXPECT_TRUE(socket.ok()) << socket.status();
    return *std::move(socket);
  }

  std::optional<ScopedNetns> host_;
  std::optional<ScopedNetns> pod_;
  std::unique_ptr<Backend> backend_;
  std::function<void()> before_host_commit_;
};

TEST_F(NftablesOwnershipTest, ElementOwnersAreNftCommentsAndReadBack) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  absl::Status st = backend().UpdateHostMembers(
      {{Ip("10.1.0.2"), kUidA}, {Ip("10.1.0.1"), kUidB}, {Ip("fd00:1::1"), kUidA}}, {});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Members(),
            (std::vector<HostMember>{
                {Ip("10.1.0.1"), kUidB}, {Ip("10.1.0.2"), kUidA}, {Ip("fd00:1::1"), kUidA}}));

  const std::string listing = Nft(*host_, "list table inet probesnat");
  EXPECT_TRUE(absl::StrContains(listing, absl::StrCat("10.1.0.1 comment \"", kUidB, "\"")))
      << listing;
  EXPECT_TRUE(absl::StrContains(listing, absl::StrCat("10.1.0.2 comment \"", kUidA, "\"")))
      << listing;
  EXPECT_TRUE(absl::StrContains(listing, absl::StrCat("fd00:1::1 comment \"", kUidA, "\"")))
      << listing;
  const std::string json = Nft(*host_, "-j list set inet probesnat pods_v4");
  EXPECT_TRUE(absl::StrContains(
      json, absl::StrCat(R"({"elem": {"val": "10.1.0.2", "comment": ")", kUidA, R"("}})")))
      << json;

  // nft reads our comments back into what it would write itself: a dump and restore (`nft -f` of
  // the listing into a fresh namespace) keeps the owners.
  absl::StatusOr<ScopedNetns> copy = ScopedNetns::Create("copy");
  ASSERT_TRUE(copy.ok()) << copy.status();
  const std::string file = absl::StrCat("/tmp/", copy->name(), ".nft");
  ASSERT_TRUE(
      testing::Run(absl::StrCat("ip netns exec ", host_->name(), " nft list ruleset > ", file))
          .ok());
  ASSERT_TRUE(testing::Run(absl::StrCat("ip netns exec ", copy->name(), " nft -f ", file)).ok());
  ::unlink(file.c_str());
  absl::StatusOr<std::unique_ptr<Backend>> other = MakeNftablesBackend(copy->path());
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<HostObservation> copied = (*other)->ObserveHost(HostRules{});
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_TRUE(copied->rules_match);
  EXPECT_EQ(copied->members, Members());
}

TEST_F(NftablesOwnershipTest, AddingAPresentAddressReplacesItsOwner) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(
      backend().UpdateHostMembers({{Ip("10.2.0.1"), kUidA}, {Ip("fd00:2::1"), kUidA}}, {}).ok());
  // The IP is reused by another pod.
  absl::Status st = backend().UpdateHostMembers({{Ip("10.2.0.1"), kUidB}}, {});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Members(),
            (std::vector<HostMember>{{Ip("10.2.0.1"), kUidB}, {Ip("fd00:2::1"), kUidA}}));
  std::string listing = Nft(*host_, "list set inet probesnat pods_v4");
  EXPECT_TRUE(absl::StrContains(listing, absl::StrCat("10.2.0.1 comment \"", kUidB, "\"")))
      << listing;
  EXPECT_FALSE(absl::StrContains(listing, kUidA)) << listing;

  // The same owner again: unchanged; no owner: the comment goes.
  ASSERT_TRUE(backend().UpdateHostMembers({{Ip("10.2.0.1"), kUidB}}, {}).ok());
  EXPECT_EQ(Members(),
            (std::vector<HostMember>{{Ip("10.2.0.1"), kUidB}, {Ip("fd00:2::1"), kUidA}}));
  ASSERT_TRUE(backend().UpdateHostMembers({{Ip("fd00:2::1"), ""}}, {}).ok());
  EXPECT_EQ(Members(), (std::vector<HostMember>{{Ip("10.2.0.1"), kUidB}, {Ip("fd00:2::1"), ""}}));
  listing = Nft(*host_, "list set inet probesnat pods_v6");
  EXPECT_TRUE(absl::StrContains(listing, "elements = { fd00:2::1 }")) << listing;

  // An owner that cannot be a comment is refused before anything is sent.
  st = backend().UpdateHostMembers({{Ip("10.2.0.9"), std::string(300, 'x')}}, {});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "element 10.2.0.9 of set pods_v4")) << st;
  EXPECT_EQ(Members().size(), 2u);
}

// Why UpdateHostMembers deletes and re-adds: a plain re-add of a present element (create, not
// exclusive) succeeds and keeps the element's old user data.
TEST_F(NftablesOwnershipTest, TheKernelKeepsAPresentElementsUserDataOnAPlainReAdd) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(backend().UpdateHostMembers({{Ip("10.8.0.1"), kUidA}}, {}).ok());
  NftSocket socket = SocketIn(*host_);
  NftnlSetPtr holder(nftnl_set_alloc());
  nftnl_set_set_u32(holder.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(holder.get(), NFTNL_SET_TABLE, kTableName);
  nftnl_set_set_str(holder.get(), NFTNL_SET_NAME, kHostSetV4);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  const uint8_t key[4] = {10, 8, 0, 1};
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key));
  const std::string userdata = EncodeComment(NFTNL_UDATA_SET_ELEM_COMMENT, kUidB);
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, userdata.data(),
                     static_cast<uint32_t>(userdata.size()));
  nftnl_set_elem_add(holder.get(), e);
  NftBatch batch = socket.NewBatch();
  batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, holder.get(), "plain re-add");
  absl::Status st = socket.Commit(batch);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Members(), (std::vector<HostMember>{{Ip("10.8.0.1"), kUidA}}));
}

// Elements someone else added (`nft add element`, an agent from before owners) are members with
// no owner; user data that is not nft's comment format is no owner either.
TEST_F(NftablesOwnershipTest, ElementsWithoutOurCommentAreMembersWithoutOwner) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(backend().UpdateHostMembers({{Ip("10.3.0.1"), kUidA}}, {}).ok());
  Nft(*host_, "add element inet probesnat pods_v4 { 10.3.0.2 }");
  Nft(*host_, "add element inet probesnat pods_v6 { fd00:3::2 comment \"written-by-nft\" }");

  NftSocket socket = SocketIn(*host_);
  NftnlSetPtr holder(nftnl_set_alloc());
  nftnl_set_set_u32(holder.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(holder.get(), NFTNL_SET_TABLE, kTableName);
  nftnl_set_set_str(holder.get(), NFTNL_SET_NAME, kHostSetV4);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  const uint8_t key[4] = {10, 3, 0, 3};
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key));
  const char garbage[] = "\x00\x40not a TLV";  // claims 64 bytes, holds 9
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, garbage, sizeof(garbage) - 1);
  nftnl_set_elem_add(holder.get(), e);
  NftBatch batch = socket.NewBatch();
  batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, holder.get(), "element with garbage");
  absl::Status st = socket.Commit(batch);
  ASSERT_TRUE(st.ok()) << st;

  EXPECT_EQ(Members(), (std::vector<HostMember>{{Ip("10.3.0.1"), kUidA},
                                                {Ip("10.3.0.2"), ""},
                                                {Ip("10.3.0.3"), ""},
                                                {Ip("fd00:3::2"), "written-by-nft"}}));
}

TEST_F(NftablesOwnershipTest, EnsureHostRepairKeepsOwners) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  const std::vector<HostMember> members = {
      {Ip("10.4.0.1"), kUidA}, {Ip("10.4.0.2"), kUidB}, {Ip("fd00:4::1"), kUidB}};
  ASSERT_TRUE(backend().UpdateHostMembers(members, {}).ok());
  Nft(*host_, "add element inet probesnat pods_v4 { 10.4.0.3 }");
  Nft(*host_, "add rule inet probesnat nat_postrouting counter");
  absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  ASSERT_FALSE(obs->rules_match);

  absl::Status st = backend().EnsureHost(HostRules{});
  ASSERT_TRUE(st.ok()) << st;
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members, (std::vector<HostMember>{{Ip("10.4.0.1"), kUidA},
                                                   {Ip("10.4.0.2"), kUidB},
                                                   {Ip("10.4.0.3"), ""},
                                                   {Ip("fd00:4::1"), kUidB}}));
  const std::string listing = Nft(*host_, "list set inet probesnat pods_v4");
  EXPECT_TRUE(absl::StrContains(listing, absl::StrCat("10.4.0.2 comment \"", kUidB, "\"")))
      << listing;
}

TEST_F(NftablesOwnershipTest, PodTableOwnerAndHandleRoundTrip) {
  const TableOwner first{kUidA, 1};
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, first).ok());
  PodObservation obs = ObservePod();
  EXPECT_TRUE(obs.table_present);
  EXPECT_TRUE(obs.rules_match);  // the comment is not a rule
  EXPECT_EQ(obs.owner, first);
  EXPECT_NE(obs.table_handle, 0u);
  const std::string ruleset = Nft(*pod_, "list ruleset");
  EXPECT_TRUE(
      absl::StrContains(ruleset, absl::StrCat("table inet probesnat {\n\tcomment \"probesnat pod ",
                                              kUidA, " generation 1\"\n")))
      << ruleset;

  // Observing changes nothing; applying again is a new table with a new handle.
  const uint64_t handle = obs.table_handle;
  EXPECT_EQ(ObservePod().table_handle, handle);
  EXPECT_EQ(ObservePod().table_handle, handle);
  const TableOwner second{kUidA, 2};
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, second).ok());
  obs = ObservePod();
  EXPECT_EQ(obs.owner, second);
  EXPECT_TRUE(obs.rules_match);
  EXPECT_NE(obs.table_handle, handle);

  // Other rules asked for: drift, the owner still read.
  PodRules other;
  other.outbound_capture = false;
  obs = ObservePod(other);
  EXPECT_FALSE(obs.rules_match);
  EXPECT_EQ(obs.owner, second);

  // Through a handle, as the daemon does.
  absl::StatusOr<NetnsHandle> netns = backend().OpenPodNetns(pod_->path());
  ASSERT_TRUE(netns.ok()) << netns.status();
  const TableOwner third{kUidB, 3};
  ASSERT_TRUE(backend().ApplyPod(*netns, PodRules{}, third).ok());
  absl::StatusOr<PodObservation> through = backend().ObservePod(*netns, PodRules{});
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_EQ(through->owner, third);

  ASSERT_TRUE(backend().RemovePod(pod_->path()).ok());
  obs = ObservePod();
  EXPECT_FALSE(obs.table_present);
  EXPECT_EQ(obs.owner, std::nullopt);
  EXPECT_EQ(obs.table_handle, 0u);
}

// Our rules written by someone else (nft -f of our listing without the comment, or with another
// comment): the rules match, but no owner is claimed.
TEST_F(NftablesOwnershipTest, APodTableWithoutOurCommentHasNoOwner) {
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, TableOwner{kUidA, 5}).ok());
  std::string listing = Nft(*pod_, "list table inet probesnat");
  const std::string comment_line =
      absl::StrCat("\tcomment \"probesnat pod ", kUidA, " generation 5\"\n");
  ASSERT_TRUE(absl::StrContains(listing, comment_line)) << listing;
  for (const std::string& replacement : {std::string(), std::string("\tcomment \"hello\"\n")}) {
    SCOPED_TRACE(replacement);
    std::string edited = listing;
    edited.replace(edited.find(comment_line), comment_line.size(), replacement);
    const std::string file = absl::StrCat("/tmp/", pod_->name(), ".nft");
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(absl::StrCat("delete table inet probesnat\n", edited).c_str(), f);
    std::fclose(f);
    Nft(*pod_, absl::StrCat("-f ", file));
    ::unlink(file.c_str());
    PodObservation obs = ObservePod();
    EXPECT_TRUE(obs.table_present);
    EXPECT_TRUE(obs.rules_match);
    EXPECT_EQ(obs.owner, std::nullopt);
  }

  // No uid: the table is written without a comment.
  ASSERT_TRUE(backend().ApplyPod(pod_->path(), PodRules{}, TableOwner{}).ok());
  EXPECT_FALSE(absl::StrContains(Nft(*pod_, "list ruleset"), "comment"));
  EXPECT_EQ(ObservePod().owner, std::nullopt);
}

TEST_F(NftablesOwnershipTest, ReadTableReportsTheGenerationItReadAt) {
  NftSocket socket = SocketIn(*host_);
  absl::StatusOr<NftTableState> before = ReadTable(socket, kTableName, {});
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(before->present);
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  absl::StatusOr<NftTableState> after = ReadTable(socket, kTableName, {});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->present);
  EXPECT_NE(after->generation, before->generation);
  absl::StatusOr<NftTableState> again = ReadTable(socket, kTableName, {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->generation, after->generation);
}

// The kernel's answer to a batch bound to a generation that is no longer current: refused as a
// whole (ERESTART on the BEGIN message), reported as ABORTED, nothing applied, and the socket
// works on.
TEST_F(NftablesOwnershipTest, ABatchBoundToAStaleGenerationIsAbortedAndTheSocketWorksOn) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  NftSocket socket = SocketIn(*host_);
  absl::StatusOr<NftTableState> state = ReadTable(socket, kTableName, {kHostSetV4});
  ASSERT_TRUE(state.ok()) << state.status();
  const uint32_t stale = state->generation;

  // Bound to the current generation: applied.
  NftTable replacement = BuildHostTable(HostRules{});
  NftBatch current = socket.NewBatch(stale);
  AppendReplaceTable(current, replacement);
  absl::Status st = socket.Commit(current);
  ASSERT_TRUE(st.ok()) << st;

  // That commit moved the generation on: the same binding now is stale.
  NftTable again = BuildHostTable(HostRules{});
  NftBatch overtaken = socket.NewBatch(stale);
  AppendReplaceTable(overtaken, again);
  st = socket.Commit(overtaken);
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "test socket")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), absl::StrCat("generation ", stale))) << st;

  // Someone else changes the ruleset after our read; our commit bound to it changes nothing.
  state = ReadTable(socket, kTableName, {kHostSetV4});
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_TRUE(backend().UpdateHostMembers({{Ip("10.5.0.1"), kUidA}}, {}).ok());
  const std::string before = Nft(*host_, "-a list ruleset");
  NftTable clobber = BuildHostTable(HostRules{});
  NftBatch late = socket.NewBatch(state->generation);
  AppendReplaceTable(late, clobber);
  st = socket.Commit(late);
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_EQ(Nft(*host_, "-a list ruleset"), before);

  // The socket is usable: reads, unbound and bound commits work.
  state = ReadTable(socket, kTableName, {kHostSetV4});
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->elements[kHostSetV4].size(), 1u);
  EXPECT_EQ(state->elements[kHostSetV4][0].comment, kUidA);
  NftTable fresh = BuildHostTable(HostRules{});
  NftBatch bound = socket.NewBatch(state->generation);
  AppendReplaceTable(bound, fresh);
  st = socket.Commit(bound);
  EXPECT_TRUE(st.ok()) << st;
  NftTable unbound_table = BuildHostTable(HostRules{});
  NftBatch unbound = socket.NewBatch();
  AppendReplaceTable(unbound, unbound_table);
  st = socket.Commit(unbound);
  EXPECT_TRUE(st.ok()) << st;
}

// Someone changes the ruleset between EnsureHost's read and its commit (here: a member added,
// twice): the stale replacement is refused, EnsureHost reads again, and the member added in
// between survives with its owner instead of being clobbered by the replacement.
TEST_F(NftablesOwnershipTest, EnsureHostOvertakenByAnotherChangeRereadsAndKeepsIt) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  ASSERT_TRUE(backend().UpdateHostMembers({{Ip("10.6.0.1"), kUidA}}, {}).ok());
  Nft(*host_, "add rule inet probesnat nat_postrouting counter");  // drift: EnsureHost replaces

  int interruptions = 0;
  before_host_commit_ = [&] {
    if (interruptions < 2) {
      ++interruptions;
      Nft(*host_, absl::StrCat("add element inet probesnat pods_v4 { 10.6.0.", 1 + interruptions,
                               " comment \"", kUidB, "\" }"));
    }
  };
  absl::Status st = backend().EnsureHost(HostRules{});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(interruptions, 2);
  before_host_commit_ = nullptr;
  absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
  EXPECT_EQ(obs->members,
            (std::vector<HostMember>{
                {Ip("10.6.0.1"), kUidA}, {Ip("10.6.0.2"), kUidB}, {Ip("10.6.0.3"), kUidB}}));
}

TEST_F(NftablesOwnershipTest, EnsureHostAlwaysOvertakenIsAbortedNamingTheTable) {
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  Nft(*host_, "add rule inet probesnat nat_postrouting counter");
  int interruptions = 0;
  before_host_commit_ = [&] {
    ++interruptions;
    Nft(*host_, absl::StrCat("add table ip other", interruptions));
  };
  absl::Status st = backend().EnsureHost(HostRules{});
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "table inet probesnat")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), host_->path())) << st;
  EXPECT_EQ(interruptions, 5);
  before_host_commit_ = nullptr;
  // Nothing was replaced: the drift is still there, and the next EnsureHost repairs it.
  absl::StatusOr<HostObservation> obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_FALSE(obs->rules_match);
  ASSERT_TRUE(backend().EnsureHost(HostRules{}).ok());
  obs = backend().ObserveHost(HostRules{});
  ASSERT_TRUE(obs.ok());
  EXPECT_TRUE(obs->rules_match);
}

}  // namespace
}  // namespace probesnat::netfilter
