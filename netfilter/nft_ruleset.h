#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netfilter/nft_batch.h"
#include "netfilter/nft_rule_builder.h"
#include "netfilter/nftnl_ptr.h"
#include "netfilter/rules_spec.h"

namespace probesnat::netfilter {

// Sets of the host table holding enrolled pod addresses.
inline constexpr char kHostSetV4[] = "pods_v4";
inline constexpr char kHostSetV6[] = "pods_v6";

// One inet table as libnftnl objects: what we want the kernel to hold, or what it holds.
struct NftTable {
  std::string name;
  uint32_t flags = 0;
  // The table's comment (user data in nft's format); says whom a pod table belongs to. Not part
  // of RenderTable: it is not a rule.
  std::string comment;
  std::vector<NftnlChainPtr> chains;
  std::vector<NftRule> rules;     // grouped by chain, in order
  std::vector<NftnlSetPtr> sets;  // definitions only
};

// table inet probesnat for the host namespace: the enrolled-pod sets (empty), the SNAT rules and
// the forward chain that drops forwarded packets forging the probe address towards enrolled pods.
NftTable BuildHostTable(const HostRules& rules);
// table inet probesnat for a pod namespace (DESIGN.md "In-pod behaviour").
NftTable BuildPodTable(const PodRules& rules);

// A canonical text of the table's flags, chains (by name, with their rules in order) and set
// definitions, without handles, positions, counters, use counts, elements or comment: equal texts
// mean the kernel holds the rules we asked for.
std::string RenderTable(const NftTable& table);

// The table as `nft list table inet NAME` prints it (tabs, its comment, sets first, chains and
// rules in order; no set elements), made from the texts NftRuleBuilder gave the rules. For tables
// built here: rules read back from the kernel carry no text.
std::string NftListText(const NftTable& table);

// Label of the table in messages: "table inet probesnat".
std::string TableLabel(const std::string& name);

// Appends to `batch` the messages that create `table` from scratch, replacing any table of that
// name atomically (add, delete, add: the first add makes the delete valid if it is absent). The
// new table carries `table.comment`.
void AppendReplaceTable(NftBatch& batch, NftTable& table);
// Appends add + delete of the table: deletes it whether it exists or not.
void AppendDeleteTable(NftBatch& batch, const std::string& name);

}  // namespace probesnat::netfilter
