#include "netfilter/nft_readback.h"

#include <libmnl/libmnl.h>
#include <libnftnl/gen.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "netfilter/nft_ownership.h"

namespace probesnat::netfilter {
namespace {

constexpr int kAttempts = 5;

bool Is(const char* a, const std::string& b) { return a != nullptr && b == a; }

absl::StatusOr<uint32_t> Generation(NftSocket& socket) {
  uint32_t id = 0;
  absl::Status st = socket.Request(
      NFT_MSG_GETGEN, NFPROTO_UNSPEC, 0, "the ruleset generation", [](nlmsghdr*) {},
      [&](const nlmsghdr* nlh) -> absl::Status {
        nftnl_gen* gen = nftnl_gen_alloc();
        if (nftnl_gen_nlmsg_parse(nlh, gen) < 0) {
          nftnl_gen_free(gen);
          return absl::UnavailableError("cannot parse the ruleset generation");
        }
        id = nftnl_gen_get_u32(gen, NFTNL_GEN_ID);
        nftnl_gen_free(gen);
        return absl::OkStatus();
      });
  if (!st.ok()) {
    return st;
  }
  return id;
}

absl::Status ReadOnce(NftSocket& socket, const std::string& name,
                      const std::vector<std::string>& element_sets, NftTableState& state) {
  const std::string label = TableLabel(name);
  state = NftTableState{};
  state.table.name = name;

  NftnlTablePtr request(nftnl_table_alloc());
  nftnl_table_set_u32(request.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
  nftnl_table_set_str(request.get(), NFTNL_TABLE_NAME, name.c_str());
  absl::Status st = socket.Request(
      NFT_MSG_GETTABLE, NFPROTO_INET, 0, label,
      [&](nlmsghdr* nlh) { nftnl_table_nlmsg_build_payload(nlh, request.get()); },
      [&](const nlmsghdr* nlh) { return ParseTableMessage(nlh, label, state); });
  if (absl::IsNotFound(st)) {
    return absl::OkStatus();
  }
  if (!st.ok()) {
    return st;
  }

  NftnlChainPtr chain_filter(nftnl_chain_alloc());
  nftnl_chain_set_str(chain_filter.get(), NFTNL_CHAIN_TABLE, name.c_str());
  st = socket.Request(
      NFT_MSG_GETCHAIN, NFPROTO_INET, NLM_F_DUMP, absl::StrCat("the chains of ", label),
      [&](nlmsghdr* nlh) { nftnl_chain_nlmsg_build_payload(nlh, chain_filter.get()); },
      [&](const nlmsghdr* nlh) { return ParseChainMessage(nlh, label, state); });
  if (!st.ok()) {
    return st;
  }

  NftnlRulePtr rule_filter(nftnl_rule_alloc());
  nftnl_rule_set_str(rule_filter.get(), NFTNL_RULE_TABLE, name.c_str());
  st = socket.Request(
      NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP, absl::StrCat("the rules of ", label),
      [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, rule_filter.get()); },
      [&](const nlmsghdr* nlh) { return ParseRuleMessage(nlh, label, state); });
  if (!st.ok()) {
    return st;
  }

  NftnlSetPtr set_filter(nftnl_set_alloc());
  nftnl_set_set_str(set_filter.get(), NFTNL_SET_TABLE, name.c_str());
  st = socket.Request(
      NFT_MSG_GETSET, NFPROTO_INET, NLM_F_DUMP, absl::StrCat("the sets of ", label),
      [&](nlmsghdr* nlh) { nftnl_set_nlmsg_build_payload(nlh, set_filter.get()); },
      [&](const nlmsghdr* nlh) { return ParseSetMessage(nlh, label, state); });
  if (!st.ok()) {
    return st;
  }

  for (const std::string& set_name : element_sets) {
    bool exists = false;
    for (const NftnlSetPtr& s : state.table.sets) {
      exists = exists || Is(nftnl_set_get_str(s.get(), NFTNL_SET_NAME), set_name);
    }
    if (!exists) {
      continue;
    }
    NftnlSetPtr holder(nftnl_set_alloc());
    nftnl_set_set_u32(holder.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_str(holder.get(), NFTNL_SET_TABLE, name.c_str());
    nftnl_set_set_str(holder.get(), NFTNL_SET_NAME, set_name.c_str());
    std::string what = absl::StrCat("the elements of set ", set_name, " of ", label);
    st = socket.Request(
        NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, what,
        [&](nlmsghdr* nlh) { nftnl_set_elems_nlmsg_build_payload(nlh, holder.get()); },
        [&](const nlmsghdr* nlh) { return ParseSetElementsMessage(nlh, what, holder.get()); });
    if (!st.ok()) {
      return st;
    }
    CollectSetElements(holder.get(), state.elements[set_name]);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseTableMessage(const nlmsghdr* nlh, const std::string& label,
                               NftTableState& state) {
  NftnlTablePtr t(nftnl_table_alloc());
  if (nftnl_table_nlmsg_parse(nlh, t.get()) < 0) {
    return absl::UnavailableError(absl::StrCat("cannot parse ", label));
  }
  if (!Is(nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME), state.table.name)) {
    return absl::OkStatus();
  }
  state.present = true;
  state.table.flags = nftnl_table_get_u32(t.get(), NFTNL_TABLE_FLAGS);
  state.handle = nftnl_table_get_u64(t.get(), NFTNL_TABLE_HANDLE);
  if (nftnl_table_is_set(t.get(), NFTNL_TABLE_USERDATA)) {
    uint32_t len = 0;
    const void* data = nftnl_table_get_data(t.get(), NFTNL_TABLE_USERDATA, &len);
    state.table.comment = DecodeComment(NFTNL_UDATA_TABLE_COMMENT,
                                        absl::string_view(static_cast<const char*>(data), len));
  }
  return absl::OkStatus();
}

absl::Status ParseChainMessage(const nlmsghdr* nlh, const std::string& label,
                               NftTableState& state) {
  NftnlChainPtr c(nftnl_chain_alloc());
  if (nftnl_chain_nlmsg_parse(nlh, c.get()) < 0) {
    return absl::UnavailableError(absl::StrCat("cannot parse a chain of ", label));
  }
  if (Is(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE), state.table.name)) {
    state.table.chains.push_back(std::move(c));
  }
  return absl::OkStatus();
}

namespace {

// libnftnl 1.2.4 (bookworm) reads an expression's name without checking it is there
// (nftnl_expr_alloc(mnl_attr_get_str(NULL)) crashes), in rules and in sets: found by
// fuzz/netlink_readback_fuzzer.cc. Whether every expression held by the message's top-level
// attribute `single` (one expression) or `list` (a list of them) carries a NUL-terminated name.
bool ExpressionsAreNamed(const nlmsghdr* nlh, uint16_t single, uint16_t list) {
  // The attributes of [begin, begin + len), each whole (mnl_attr_ok), calling `fn` on each.
  auto each = [](const void* begin, size_t len, auto&& fn) {
    const auto* attr = static_cast<const nlattr*>(begin);
    const char* end = static_cast<const char*>(begin) + len;
    while (mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr)))) {
      if (!fn(attr)) {
        return false;
      }
      attr = mnl_attr_next(attr);
    }
    return true;
  };
  auto named = [&](const nlattr* expression) {
    bool found = false;
    each(mnl_attr_get_payload(expression), mnl_attr_get_payload_len(expression),
         [&](const nlattr* field) {
           found = found || ((mnl_attr_get_type(field) & NLA_TYPE_MASK) == NFTA_EXPR_NAME &&
                             mnl_attr_validate(field, MNL_TYPE_NUL_STRING) == 0);
           return true;
         });
    return found;
  };
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nfgenmsg)) {
    return true;  // libnftnl refuses it on its own
  }
  const void* payload = mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg));
  const size_t len = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh)) -
                     static_cast<const char*>(payload);
  return each(payload, len, [&](const nlattr* attr) {
    const uint16_t type = mnl_attr_get_type(attr) & NLA_TYPE_MASK;
    if (type == single) {
      return named(attr);
    }
    if (type == list) {
      return each(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr), named);
    }
    return true;
  });
}

}  // namespace

absl::Status ParseRuleMessage(const nlmsghdr* nlh, const std::string& label,
                              NftTableState& state) {
  if (!ExpressionsAreNamed(nlh, /*single=*/0, NFTA_RULE_EXPRESSIONS)) {
    return absl::UnavailableError(
        absl::StrCat("cannot parse a rule of ", label, ": an expression has no name"));
  }
  NftnlRulePtr r(nftnl_rule_alloc());
  if (nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) {
    return absl::UnavailableError(absl::StrCat("cannot parse a rule of ", label));
  }
  if (Is(nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE), state.table.name)) {
    state.table.rules.push_back(NftRule{std::move(r), ""});
  }
  return absl::OkStatus();
}

absl::Status ParseSetMessage(const nlmsghdr* nlh, const std::string& label, NftTableState& state) {
  if (!ExpressionsAreNamed(nlh, NFTA_SET_EXPR, NFTA_SET_EXPRESSIONS)) {
    return absl::UnavailableError(
        absl::StrCat("cannot parse a set of ", label, ": an expression has no name"));
  }
  NftnlSetPtr s(nftnl_set_alloc());
  if (nftnl_set_nlmsg_parse(nlh, s.get()) < 0) {
    return absl::UnavailableError(absl::StrCat("cannot parse a set of ", label));
  }
  if (Is(nftnl_set_get_str(s.get(), NFTNL_SET_TABLE), state.table.name)) {
    state.table.sets.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::Status ParseSetElementsMessage(const nlmsghdr* nlh, const std::string& what,
                                     nftnl_set* holder) {
  if (nftnl_set_elems_nlmsg_parse(nlh, holder) < 0) {
    return absl::UnavailableError(absl::StrCat("cannot parse ", what));
  }
  return absl::OkStatus();
}

void CollectSetElements(nftnl_set* holder, std::vector<NftElement>& elements) {
  nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(holder);
  if (it == nullptr) {
    return;
  }
  // iter_next returns the current element, then advances.
  while (nftnl_set_elem* e = nftnl_set_elems_iter_next(it)) {
    uint32_t len = 0;
    const void* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
    if (key == nullptr) {
      continue;
    }
    NftElement& element = elements.emplace_back();
    element.key.assign(static_cast<const char*>(key), len);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
      uint32_t udata_len = 0;
      const void* udata = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &udata_len);
      element.comment =
          DecodeComment(NFTNL_UDATA_SET_ELEM_COMMENT,
                        absl::string_view(static_cast<const char*>(udata), udata_len));
    }
  }
  nftnl_set_elems_iter_destroy(it);
}

absl::StatusOr<NftTableState> ReadTable(NftSocket& socket, const std::string& name,
                                        const std::vector<std::string>& element_sets) {
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    absl::StatusOr<uint32_t> before = Generation(socket);
    if (!before.ok()) {
      return before.status();
    }
    NftTableState state;
    last = ReadOnce(socket, name, element_sets, state);
    if (absl::IsAborted(last)) {
      continue;
    }
    if (!last.ok()) {
      return last;
    }
    absl::StatusOr<uint32_t> after = Generation(socket);
    if (!after.ok()) {
      return after.status();
    }
    if (*before == *after) {
      state.generation = *before;
      return state;
    }
    last = absl::AbortedError(absl::StrCat("the ruleset kept changing while reading ",
                                           TableLabel(name), " in the ", socket.where()));
  }
  return absl::UnavailableError(last.message());
}

}  // namespace probesnat::netfilter
