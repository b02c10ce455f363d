#include "netfilter/nftables_backend.h"

#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "netfilter/netns.h"
#include "netfilter/nft_ownership.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"
#include "netfilter/nft_socket_pool.h"

namespace probesnat::netfilter {
namespace {

// EnsureHost's read-then-commit rounds before it gives up (ABORTED).
constexpr int kEnsureHostRounds = 5;

const char* HostSetFor(const IpAddress& a) { return a.is_v4() ? kHostSetV4 : kHostSetV6; }

// A set holding exactly the element `key` (with `owner` as its comment, if any), ready for a
// NEWSETELEM/DELSETELEM message.
NftnlSetPtr ElementMessage(const char* set_name, const IpAddress& key,
                           const std::string& owner = {}) {
  NftnlSetPtr s(nftnl_set_alloc());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, kTableName);
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set_name);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key.data(), static_cast<uint32_t>(key.size()));
  if (!owner.empty()) {
    const std::string userdata = EncodeComment(NFTNL_UDATA_SET_ELEM_COMMENT, owner);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, userdata.data(),
                       static_cast<uint32_t>(userdata.size()));
  }
  nftnl_set_elem_add(s.get(), e);
  return s;
}

std::string ElementLabel(const char* set_name, const IpAddress& key) {
  return absl::StrCat("element ", key.ToString(), " of set ", set_name, " of ",
                      TableLabel(kTableName));
}

class NftablesBackend : public Backend {
 public:
  NftablesBackend(NftSocket host, NetnsId host_netns, NftablesBackendHooks hooks)
      : host_(std::move(host)), host_netns_(host_netns), hooks_(std::move(hooks)) {}

  absl::Status EnsureHost(const HostRules& rules) override {
    std::lock_guard<std::mutex> lock(host_mu_);
    absl::Status last;
    for (int round = 0; round < kEnsureHostRounds; ++round) {
      absl::StatusOr<NftTableState> state = ReadTable(host_, kTableName, {kHostSetV4, kHostSetV6});
      if (!state.ok()) {
        return state.status();
      }
      NftTable desired = BuildHostTable(rules);
      if (state->present && RenderTable(state->table) == RenderTable(desired)) {
        return absl::OkStatus();
      }
      // Bound to the generation read: if anyone changes the ruleset before this commit (adds a
      // member, edits our table), the kernel refuses it and we read again, rather than
      // replacing the table with what was true before their change.
      NftBatch batch = host_.NewBatch(state->generation);
      AppendReplaceTable(batch, desired);
      // The replacement keeps the enrolled addresses and their owners: they are re-added in the
      // same transaction.
      for (const HostMember& member : Members(*state)) {
        NftnlSetPtr s = ElementMessage(HostSetFor(member.ip), member.ip, member.owner);
        batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, s.get(),
                          ElementLabel(HostSetFor(member.ip), member.ip));
      }
      if (hooks_.before_host_commit) {
        hooks_.before_host_commit();
      }
      last = host_.Commit(batch);
      if (!absl::IsAborted(last)) {
        return last;
      }
    }
    return absl::AbortedError(
        absl::StrCat("cannot replace ", TableLabel(kTableName), ": ", kEnsureHostRounds,
                     " rounds of read and commit in a row ",
                     "were overtaken by other changes (last: ", last.message(), ")"));
  }

  absl::Status UpdateHostMembers(const std::vector<HostMember>& add,
                                 const std::vector<IpAddress>& remove) override {
    for (const HostMember& m : add) {
      if (absl::Status st = ValidateOwnerUid(m.owner); !st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(ElementLabel(HostSetFor(m.ip), m.ip), ": ", st.message()));
      }
    }
    std::lock_guard<std::mutex> lock(host_mu_);
    NftBatch batch = host_.NewBatch();
    // The kernel keeps a present element's user data when it is added again, so a present
    // address would keep its old owner. Add (a no-op if present), delete, add with the owner:
    // valid whether or not it was there, and the new owner wins.
    for (const HostMember& m : add) {
      const char* set = HostSetFor(m.ip);
      NftnlSetPtr bare = ElementMessage(set, m.ip);
      NftnlSetPtr owned = ElementMessage(set, m.ip, m.owner);
      batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, bare.get(), ElementLabel(set, m.ip));
      batch.AddSetElems(NFT_MSG_DELSETELEM, 0, bare.get(), ElementLabel(set, m.ip));
      batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, owned.get(), ElementLabel(set, m.ip));
    }
    // Adding before deleting makes the delete valid whether or not the element was there
    // (DESTROYSETELEM would need Linux 6.3). An address in both lists ends up removed.
    for (const IpAddress& a : remove) {
      NftnlSetPtr s = ElementMessage(HostSetFor(a), a);
      batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, s.get(), ElementLabel(HostSetFor(a), a));
      batch.AddSetElems(NFT_MSG_DELSETELEM, 0, s.get(), ElementLabel(HostSetFor(a), a));
    }
    return host_.Commit(batch);
  }

  absl::StatusOr<HostObservation> ObserveHost(const HostRules& rules) override {
    std::lock_guard<std::mutex> lock(host_mu_);
    absl::StatusOr<NftTableState> state = ReadTable(host_, kTableName, {kHostSetV4, kHostSetV6});
    if (!state.ok()) {
      return state.status();
    }
    HostObservation obs;
    obs.table_present = state->present;
    obs.rules_match =
        state->present && RenderTable(state->table) == RenderTable(BuildHostTable(rules));
    obs.members = Members(*state);
    return obs;
  }

  absl::Status RemoveHost() override {
    std::lock_guard<std::mutex> lock(host_mu_);
    NftBatch batch = host_.NewBatch();
    AppendDeleteTable(batch, kTableName);
    return host_.Commit(batch);
  }

  using Backend::ApplyPod;
  using Backend::ObservePod;
  using Backend::RemovePod;

  absl::StatusOr<NetnsHandle> OpenPodNetns(const std::string& netns_path) override {
    return RefuseHost(OpenNetnsHandle(netns_path), netns_path);
  }

  absl::StatusOr<NetnsHandle> OpenPodNetnsBeneath(const std::string& root,
                                                  const std::string& netns_path) override {
    return RefuseHost(OpenNetnsHandleBeneath(root, netns_path), netns_path);
  }

  absl::StatusOr<NetnsHandle> RefuseHost(absl::StatusOr<NetnsHandle> netns,
                                         const std::string& netns_path) const {
    if (netns.ok() && netns->id == host_netns_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "network namespace ", netns_path,
          " is the host network namespace (the agent's own); hostNetwork pods cannot be enrolled "
          "and pod rules are never applied there"));
    }
    return netns;
  }

  absl::Status ApplyPod(const NetnsHandle& netns, const PodRules& rules,
                        const TableOwner& owner) override {
    if (absl::Status st = ValidateOwnerUid(owner.uid); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(TableLabel(kTableName), " in namespace ", netns.path, ": ", st.message()));
    }
    absl::StatusOr<NftSocketPool::Lease> lease = AcquirePod(netns);
    if (!lease.ok()) {
      return lease.status();
    }
    NftTable desired = BuildPodTable(rules);
    if (!owner.uid.empty()) {  // no uid, no claim
      desired.comment = PodTableComment(owner);
    }
    NftBatch batch = lease->socket.NewBatch();
    AppendReplaceTable(batch, desired);
    absl::Status st = lease->socket.Commit(batch);
    Finish(*std::move(lease), st);
    return st;
  }

  absl::Status RemovePod(const NetnsHandle& netns) override {
    absl::StatusOr<NftSocketPool::Lease> lease = AcquirePod(netns);
    if (!lease.ok()) {
      return lease.status();
    }
    NftBatch batch = lease->socket.NewBatch();
    AppendDeleteTable(batch, kTableName);
    absl::Status st = lease->socket.Commit(batch);
    Finish(*std::move(lease), st);
    return st;
  }

  absl::StatusOr<PodObservation> ObservePod(const NetnsHandle& netns,
                                            const PodRules& rules) override {
    PodObservation obs;
    absl::StatusOr<NftSocketPool::Lease> lease = AcquirePod(netns);
    if (!lease.ok()) {
      return lease.status();
    }
    obs.namespace_exists = true;
    absl::StatusOr<NftTableState> state = ReadTable(lease->socket, kTableName, {});
    Finish(*std::move(lease), state.status());
    if (!state.ok()) {
      return state.status();
    }
    obs.table_present = state->present;
    obs.rules_match =
        state->present && RenderTable(state->table) == RenderTable(BuildPodTable(rules));
    if (state->present) {
      obs.owner = ParsePodTableComment(state->table.comment);
      obs.table_handle = state->handle;
    }
    return obs;
  }

 private:
  // A handle made elsewhere is checked again: pod operations must never reach the host namespace.
  absl::StatusOr<NftSocketPool::Lease> AcquirePod(const NetnsHandle& netns) {
    if (netns.id == host_netns_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "network namespace ", netns.path,
          " is the host network namespace (the agent's own); hostNetwork pods cannot be enrolled "
          "and pod rules are never applied there"));
    }
    return pod_sockets_.Acquire(netns);
  }

  // A socket whose last exchange failed may hold unread answers: it is not reused.
  void Finish(NftSocketPool::Lease lease, const absl::Status& outcome) {
    if (outcome.ok()) {
      pod_sockets_.Return(std::move(lease));
    } else {
      pod_sockets_.Discard(std::move(lease));
    }
  }

  // Addresses in our host sets whose length fits the set's family, with their owners (the
  // element's comment), sorted.
  static std::vector<HostMember> Members(const NftTableState& state) {
    std::vector<HostMember> out;
    for (const auto& [set, elements] : state.elements) {
      for (const NftElement& e : elements) {
        if (set == kHostSetV4 && e.key.size() == 4) {
          std::array<uint8_t, 4> b;
          std::copy(e.key.begin(), e.key.end(), b.begin());
          out.push_back(HostMember{IpAddress::V4(b), e.comment});
        } else if (set == kHostSetV6 && e.key.size() == 16) {
          std::array<uint8_t, 16> b;
          std::copy(e.key.begin(), e.key.end(), b.begin());
          out.push_back(HostMember{IpAddress::V6(b), e.comment});
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::mutex host_mu_;
  NftSocket host_;
  const NetnsId host_netns_;
  NftSocketPool pod_sockets_;
  NftablesBackendHooks hooks_;
};

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const std::string& host_netns_path,
                                                     bool calling_thread_namespace,
                                                     std::string where,
                                                     NftablesBackendHooks hooks) {
  absl::StatusOr<UniqueFd> ns = OpenNetns(host_netns_path);
  if (!ns.ok()) {
    return ns.status();
  }
  absl::StatusOr<NetnsId> id = IdentifyNetns(ns->get());
  if (!id.ok()) {
    return id.status();
  }
  // In its own namespace the agent needs no setns (nor CAP_SYS_ADMIN) for the host side.
  absl::StatusOr<NftSocket> host = calling_thread_namespace
                                       ? NftSocket::Open(std::move(where))
                                       : NftSocket::OpenIn(ns->get(), std::move(where));
  if (!host.ok()) {
    return host.status();
  }
  return std::make_unique<NftablesBackend>(*std::move(host), *id, std::move(hooks));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend() {
  return MakeBackend("/proc/thread-self/ns/net", /*calling_thread_namespace=*/true,
                     "host network namespace", {});
}

absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend(const std::string& host_netns_path) {
  return MakeNftablesBackend(host_netns_path, NftablesBackendHooks{});
}

absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend(const std::string& host_netns_path,
                                                             NftablesBackendHooks hooks) {
  return MakeBackend(host_netns_path, /*calling_thread_namespace=*/false,
                     absl::StrCat("host network namespace ", host_netns_path), std::move(hooks));
}

}  // namespace probesnat::netfilter
