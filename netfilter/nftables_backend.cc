#include "netfilter/nftables_backend.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "netfilter/netns.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"
#include "netfilter/nft_socket_pool.h"

namespace probesnat::netfilter {
namespace {

const char* HostSetFor(const IpAddress& a) { return a.is_v4() ? kHostSetV4 : kHostSetV6; }

// A set holding exactly the element `key`, ready for a NEWSETELEM/DELSETELEM message.
NftnlSetPtr ElementMessage(const char* set_name, const IpAddress& key) {
  NftnlSetPtr s(nftnl_set_alloc());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, kTableName);
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set_name);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key.data(), static_cast<uint32_t>(key.size()));
  nftnl_set_elem_add(s.get(), e);
  return s;
}

std::string ElementLabel(const char* set_name, const IpAddress& key) {
  return absl::StrCat("element ", key.ToString(), " of set ", set_name, " of ",
                      TableLabel(kTableName));
}

class NftablesBackend : public Backend {
 public:
  NftablesBackend(NftSocket host, NetnsId host_netns)
      : host_(std::move(host)), host_netns_(host_netns) {}

  absl::Status EnsureHost(const HostRules& rules) override {
    std::lock_guard<std::mutex> lock(host_mu_);
    absl::StatusOr<NftTableState> state = ReadTable(host_, kTableName, {kHostSetV4, kHostSetV6});
    if (!state.ok()) {
      return state.status();
    }
    NftTable desired = BuildHostTable(rules);
    if (state->present && RenderTable(state->table) == RenderTable(desired)) {
      return absl::OkStatus();
    }
    NftBatch batch = host_.NewBatch();
    AppendReplaceTable(batch, desired);
    // The replacement keeps the enrolled addresses: they are re-added in the same transaction.
    for (const IpAddress& member : Members(*state)) {
      NftnlSetPtr s = ElementMessage(HostSetFor(member), member);
      batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, s.get(),
                        ElementLabel(HostSetFor(member), member));
    }
    return host_.Commit(batch);
  }

  absl::Status UpdateHostMembers(const std::vector<IpAddress>& add,
                                 const std::vector<IpAddress>& remove) override {
    std::lock_guard<std::mutex> lock(host_mu_);
    NftBatch batch = host_.NewBatch();
    for (const IpAddress& a : add) {
      NftnlSetPtr s = ElementMessage(HostSetFor(a), a);
      batch.AddSetElems(NFT_MSG_NEWSETELEM, NLM_F_CREATE, s.get(), ElementLabel(HostSetFor(a), a));
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
    absl::StatusOr<NetnsHandle> netns = OpenNetnsHandle(netns_path);
    if (netns.ok() && netns->id == host_netns_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "network namespace ", netns_path,
          " is the host network namespace (the agent's own); hostNetwork pods cannot be enrolled "
          "and pod rules are never applied there"));
    }
    return netns;
  }

  absl::Status ApplyPod(const NetnsHandle& netns, const PodRules& rules) override {
    absl::StatusOr<NftSocketPool::Lease> lease = AcquirePod(netns);
    if (!lease.ok()) {
      return lease.status();
    }
    NftTable desired = BuildPodTable(rules);
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

  // Addresses in our host sets whose length fits the set's family, sorted.
  static std::vector<IpAddress> Members(const NftTableState& state) {
    std::vector<IpAddress> out;
    for (const auto& [set, keys] : state.elements) {
      for (const std::string& key : keys) {
        if (set == kHostSetV4 && key.size() == 4) {
          std::array<uint8_t, 4> b;
          std::copy(key.begin(), key.end(), b.begin());
          out.push_back(IpAddress::V4(b));
        } else if (set == kHostSetV6 && key.size() == 16) {
          std::array<uint8_t, 16> b;
          std::copy(key.begin(), key.end(), b.begin());
          out.push_back(IpAddress::V6(b));
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
};

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const std::string& host_netns_path,
                                                     bool calling_thread_namespace,
                                                     std::string where) {
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
  return std::make_unique<NftablesBackend>(*std::move(host), *id);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend() {
  return MakeBackend("/proc/thread-self/ns/net", /*calling_thread_namespace=*/true,
                     "host network namespace");
}

absl::StatusOr<std::unique_ptr<Backend>> MakeNftablesBackend(const std::string& host_netns_path) {
  return MakeBackend(host_netns_path, /*calling_thread_namespace=*/false,
                     absl::StrCat("host network namespace ", host_netns_path));
}

}  // namespace probesnat::netfilter
