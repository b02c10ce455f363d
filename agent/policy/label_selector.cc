#include "agent/policy/label_selector.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace probesnat::policy {

namespace {

bool RequirementMatches(const LabelRequirement& r, const Labels& labels) {
  auto it = labels.find(r.key);
  const bool has = it != labels.end();
  switch (r.op) {
    case LabelRequirement::Op::kExists:
      return has;
    case LabelRequirement::Op::kDoesNotExist:
      return !has;
    case LabelRequirement::Op::kIn:
      return has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    case LabelRequirement::Op::kNotIn:
      return !has || std::find(r.values.begin(), r.values.end(), it->second) == r.values.end();
  }
  return false;
}

}  // namespace

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) {
      return false;
    }
  }
  for (const LabelRequirement& r : match_expressions) {
    if (!RequirementMatches(r, labels)) {
      return false;
    }
  }
  return true;
}

absl::string_view OpName(LabelRequirement::Op op) {
  switch (op) {
    case LabelRequirement::Op::kIn:
      return "In";
    case LabelRequirement::Op::kNotIn:
      return "NotIn";
    case LabelRequirement::Op::kExists:
      return "Exists";
    case LabelRequirement::Op::kDoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

absl::StatusOr<LabelRequirement::Op> ParseOp(absl::string_view name) {
  if (name == "In") {
    return LabelRequirement::Op::kIn;
  }
  if (name == "NotIn") {
    return LabelRequirement::Op::kNotIn;
  }
  if (name == "Exists") {
    return LabelRequirement::Op::kExists;
  }
  if (name == "DoesNotExist") {
    return LabelRequirement::Op::kDoesNotExist;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown operator \"", name, "\" (In, NotIn, Exists, DoesNotExist)"));
}

std::string LabelSelector::ToString() const {
  std::vector<std::string> parts;
  for (const auto& [k, v] : match_labels) {
    parts.push_back(absl::StrCat(k, "=", v));
  }
  for (const LabelRequirement& r : match_expressions) {
    switch (r.op) {
      case LabelRequirement::Op::kExists:
        parts.push_back(r.key);
        break;
      case LabelRequirement::Op::kDoesNotExist:
        parts.push_back(absl::StrCat("!", r.key));
        break;
      case LabelRequirement::Op::kIn:
        parts.push_back(absl::StrCat(r.key, " in (", absl::StrJoin(r.values, ","), ")"));
        break;
      case LabelRequirement::Op::kNotIn:
        parts.push_back(absl::StrCat(r.key, " notin (", absl::StrJoin(r.values, ","), ")"));
        break;
    }
  }
  return parts.empty() ? "<all>" : absl::StrJoin(parts, ",");
}

absl::StatusOr<LabelSelector> ParseSelectorString(absl::string_view text) {
  LabelSelector sel;
  // Split on commas that are not inside parentheses.
  std::vector<std::string> terms;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') {
      ++depth;
    }
    if (c == ')') {
      --depth;
    }
    if (c == ',' && depth == 0) {
      terms.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (depth != 0) {
    return absl::InvalidArgumentError(absl::StrCat("unbalanced ( in \"", text, "\""));
  }
  terms.push_back(cur);
  for (std::string term : terms) {
    absl::StripAsciiWhitespace(&term);
    if (term.empty()) {
      if (terms.size() == 1) {
        return sel;  // "" selects everything
      }
      return absl::InvalidArgumentError(absl::StrCat("empty term in selector \"", text, "\""));
    }
    auto bad = [&]() {
      return absl::InvalidArgumentError(absl::StrCat("cannot parse selector term \"", term, "\""));
    };
    if (term[0] == '!') {
      std::string key(absl::StripAsciiWhitespace(term.substr(1)));
      if (key.empty()) {
        return bad();
      }
      sel.match_expressions.push_back({key, LabelRequirement::Op::kDoesNotExist, {}});
      continue;
    }
    size_t neq = term.find("!=");
    size_t eq = term.find('=');
    size_t paren = term.find('(');
    if (neq != std::string::npos && (paren == std::string::npos || neq < paren)) {
      std::string key(absl::StripAsciiWhitespace(term.substr(0, neq)));
      std::string val(absl::StripAsciiWhitespace(term.substr(neq + 2)));
      if (key.empty()) {
        return bad();
      }
      sel.match_expressions.push_back({key, LabelRequirement::Op::kNotIn, {val}});
      continue;
    }
    if (eq != std::string::npos && (paren == std::string::npos || eq < paren)) {
      std::string key(absl::StripAsciiWhitespace(term.substr(0, eq)));
      size_t vstart = eq + 1;
      if (vstart < term.size() && term[vstart] == '=') {
        ++vstart;
      }
      std::string val(absl::StripAsciiWhitespace(term.substr(vstart)));
      if (key.empty()) {
        return bad();
      }
      sel.match_expressions.push_back({key, LabelRequirement::Op::kIn, {val}});
      continue;
    }
    if (paren != std::string::npos) {
      if (term.back() != ')') {
        return bad();
      }
      std::vector<std::string> head =
          absl::StrSplit(term.substr(0, paren), ' ', absl::SkipWhitespace());
      if (head.size() != 2) {
        return bad();
      }
      LabelRequirement r;
      r.key = head[0];
      if (head[1] == "in") {
        r.op = LabelRequirement::Op::kIn;
      } else if (head[1] == "notin") {
        r.op = LabelRequirement::Op::kNotIn;
      } else {
        return bad();
      }
      std::string inner = term.substr(paren + 1, term.size() - paren - 2);
      for (absl::string_view v : absl::StrSplit(inner, ',')) {
        r.values.emplace_back(absl::StripAsciiWhitespace(v));
      }
      sel.match_expressions.push_back(std::move(r));
      continue;
    }
    if (term.find(' ') != std::string::npos) {
      return bad();
    }
    sel.match_expressions.push_back({term, LabelRequirement::Op::kExists, {}});
  }
  return sel;
}

}  // namespace probesnat::policy
