#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"

namespace probesnat::netfilter {

// One set element as read back: its key (raw bytes) and its comment (empty if it has none, or
// user data not in nft's comment format).
struct NftElement {
  std::string key;
  std::string comment;
};

// What the kernel holds of table inet NAME in the socket's namespace.
struct NftTableState {
  bool present = false;
  NftTable table;       // flags, comment, chains, rules (in order) and set definitions as dumped
  uint64_t handle = 0;  // the kernel's handle of the table: a new one each time it is re-created
  // The ruleset generation the snapshot was read at; a batch bound to it (NftSocket::NewBatch)
  // is refused if anything changed since.
  uint32_t generation = 0;
  // Elements of the sets named in the request.
  std::map<std::string, std::vector<NftElement>> elements;
};

// Reads table inet `name` with its chains, rules and sets, and the elements of `element_sets`,
// over netlink dumps. The dumps are repeated if the ruleset generation changed in between, so the
// result is one consistent snapshot.
absl::StatusOr<NftTableState> ReadTable(NftSocket& socket, const std::string& name,
                                        const std::vector<std::string>& element_sets);

// What ReadTable does with each message of the kernel's answers (also the entry points of
// fuzz/netlink_readback_fuzzer.cc). Each adds what one message says about table
// `state.table.name` to `state` (objects of other tables are ignored); UNAVAILABLE if libnftnl
// cannot parse it. `label` names the table in messages.
absl::Status ParseTableMessage(const nlmsghdr* nlh, const std::string& label, NftTableState& state);
absl::Status ParseChainMessage(const nlmsghdr* nlh, const std::string& label, NftTableState& state);
absl::Status ParseRuleMessage(const nlmsghdr* nlh, const std::string& label, NftTableState& state);
absl::Status ParseSetMessage(const nlmsghdr* nlh, const std::string& label, NftTableState& state);
// Adds the elements one message holds to `holder` (a set named by family, table and name).
absl::Status ParseSetElementsMessage(const nlmsghdr* nlh, const std::string& what,
                                     nftnl_set* holder);
// The elements `holder` accumulated: their keys and decoded comments, appended to `elements`.
void CollectSetElements(nftnl_set* holder, std::vector<NftElement>& elements);

}  // namespace probesnat::netfilter
