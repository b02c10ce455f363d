#include "agent/cni/kernel_pod_table_probe.h"

#include "absl/strings/str_cat.h"
#include "netfilter/netns.h"
#include "netfilter/nft_readback.h"
#include "netfilter/nft_socket.h"
#include "netfilter/rules_spec.h"

namespace probesnat::cni {

absl::StatusOr<bool> KernelPodTableProbe::HasPodTable(const std::string& netns_path) {
  absl::StatusOr<UniqueFd> fd = netfilter::OpenNetns(netns_path);
  if (!fd.ok()) {
    return fd.status();
  }
  absl::StatusOr<netfilter::NftSocket> socket =
      netfilter::NftSocket::OpenIn(fd->get(), absl::StrCat("namespace ", netns_path));
  if (!socket.ok()) {
    return socket.status();
  }
  absl::StatusOr<netfilter::NftTableState> table =
      netfilter::ReadTable(*socket, netfilter::kTableName, {});
  if (!table.ok()) {
    return table.status();
  }
  return table->present;
}

}  // namespace probesnat::cni
