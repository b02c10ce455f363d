#pragma once

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include <memory>

namespace probesnat::netfilter {

// Owning pointers for libnftnl objects.
struct NftnlDeleter {
  void operator()(nftnl_table* p) const { nftnl_table_free(p); }
  void operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
  void operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
  void operator()(nftnl_set* p) const { nftnl_set_free(p); }
};

using NftnlTablePtr = std::unique_ptr<nftnl_table, NftnlDeleter>;
using NftnlChainPtr = std::unique_ptr<nftnl_chain, NftnlDeleter>;
using NftnlRulePtr = std::unique_ptr<nftnl_rule, NftnlDeleter>;
using NftnlSetPtr = std::unique_ptr<nftnl_set, NftnlDeleter>;

}  // namespace probesnat::netfilter
