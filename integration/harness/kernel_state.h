#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace probesnat::integration {

// `nft list tables` inside namespace `ns`.
absl::StatusOr<std::string> NftTables(const std::string& ns);
// Whether namespace `ns` holds probesnat's table (table inet probesnat).
absl::StatusOr<bool> HasProbesnatTable(const std::string& ns);
// `nft list table <family> <name>` inside `ns`; empty when the table does not exist.
std::string NftTableText(const std::string& ns, const std::string& family, const std::string& name);
// probesnat's table (inet) in `ns` as `nft list table` prints it; empty when absent.
std::string ProbesnatTableText(const std::string& ns);
// The elements of every set in probesnat's table in `ns` (the node's enrolled pod addresses).
std::set<std::string> ProbesnatSetElements(const std::string& ns);
// Whether `ip` is an element of one of probesnat's sets in `ns`.
bool ProbesnatSetHas(const std::string& ns, const std::string& ip);
// The elements of every "elements = { ... }" in `nft list` output.
std::set<std::string> ParseSetElements(const std::string& nft_text);
// Whether `text` contains `ip` as a whole address (not as the prefix of a longer one).
bool MentionsAddress(const std::string& text, const std::string& ip);

// Loads `ruleset` (nft syntax) inside `ns` with `nft -f`.
absl::Status NftApply(const std::string& ns, const std::string& ruleset);

// Splits `nft list ruleset` output into its tables: "table inet foo" -> the table's full text.
std::map<std::string, std::string> SplitTables(const std::string& ruleset);

// Every table in `ns` other than probesnat's, as SplitTables returns them.
absl::StatusOr<std::map<std::string, std::string>> ForeignTables(const std::string& ns);

}  // namespace probesnat::integration

namespace probesnat::integration {

// The members of probesnat's host sets (pods_v4, pods_v6) in `ns` with their owners: address ->
// the element's comment (the owning pod's uid; empty when the element has none). Read with
// `nft -j list table inet probesnat`; an absent table is an empty map.
absl::StatusOr<std::map<std::string, std::string>> ProbesnatHostMembers(const std::string& ns);

// probesnat's table in `ns` as `nft -a list table inet probesnat` prints its head: the kernel's
// handle (a new one whenever the table is deleted and created again) and the table's comment.
struct ProbesnatTableHead {
  bool present = false;
  uint64_t handle = 0;
  std::string comment;  // empty when the table has none

  bool operator==(const ProbesnatTableHead&) const = default;
};
absl::StatusOr<ProbesnatTableHead> ReadProbesnatTableHead(const std::string& ns);
// probesnat's table in `ns` as `nft -a list table` prints it (with handles); empty when absent.
absl::StatusOr<std::string> ProbesnatTableTextWithHandles(const std::string& ns);
// The head of a `nft -a list table` text (exposed for the harness's own checks).
ProbesnatTableHead ParseTableHead(const std::string& nft_text);

// The comment probesnatd gives the pod table of `uid` at `generation`.
std::string PodTableComment(const std::string& uid, uint64_t generation);

}  // namespace probesnat::integration
