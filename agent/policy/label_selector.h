#pragma once

#include <map>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace probesnat::policy {

using Labels = std::map<std::string, std::string>;

// A metav1.LabelSelector: matchLabels AND every matchExpression. Empty selects everything.
struct LabelRequirement {
  enum class Op { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kIn;
  std::vector<std::string> values;
};

struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelRequirement> match_expressions;

  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool Matches(const Labels& labels) const;
  std::string ToString() const;  // kubectl syntax, "<all>" when empty
};

absl::string_view OpName(LabelRequirement::Op op);
absl::StatusOr<LabelRequirement::Op> ParseOp(absl::string_view name);

// Parses the kubectl `-l` syntax: "a=b,c!=d,e in (x,y),f notin (z),g,!h".
absl::StatusOr<LabelSelector> ParseSelectorString(absl::string_view text);

}  // namespace probesnat::policy
