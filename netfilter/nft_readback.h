#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netfilter/nft_ruleset.h"
#include "netfilter/nft_socket.h"

namespace probesnat::netfilter {

// What the kernel holds of table inet NAME in the socket's namespace.
struct NftTableState {
  bool present = false;
  NftTable table;  // chains, rules (in order) and set definitions as dumped
  // Keys (raw bytes) of the sets named in the request.
  std::map<std::string, std::vector<std::string>> elements;
};

// Reads table inet `name` with its chains, rules and sets, and the elements of `element_sets`,
// over netlink dumps. The dumps are repeated if the ruleset generation changed in between, so the
// result is one consistent snapshot.
absl::StatusOr<NftTableState> ReadTable(NftSocket& socket, const std::string& name,
                                        const std::vector<std::string>& element_sets);

}  // namespace probesnat::netfilter
