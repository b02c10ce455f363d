#include "agent/policy/yaml_budget.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"

namespace probesnat::policy {

namespace {

// What a node costs with its aliases expanded.
struct Cost {
  uint64_t nodes = 0;
  uint64_t scalar_bytes = 0;
  uint32_t height = 0;  // 1 for a scalar, 1 + the tallest child for a collection
};

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

std::string Where(const std::string& source, const YAML::Mark& mark) {
  return absl::StrCat(source, ": line ", mark.line + 1, ", column ", mark.column + 1);
}

// Thrown out of the parser's callbacks to stop it at the first limit reached.
struct Refusal {
  absl::Status status;
};

class BudgetCounter final : public YAML::EventHandler {
 public:
  BudgetCounter(const std::string& source, const YamlBudget& budget,
                const std::function<bool()>& cancelled)
      : source_(source), budget_(budget), cancelled_(cancelled) {}

  void OnDocumentStart(const YAML::Mark&) override {
    anchors_.clear();
    open_.clear();
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Leaf(mark, anchor, Cost{1, 0, 1});
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Leaf(mark, anchor, Cost{1, value.size(), 1});
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (anchor >= anchors_.size() || !anchors_[anchor].defined) {
      Refuse(mark, "an alias to an anchor that is not defined");
    }
    const Anchor& a = anchors_[anchor];
    if (a.open) {
      Refuse(mark, absl::StrCat("the alias *", a.name,
                                " refers to a node that contains it (a cycle); aliases must refer "
                                "to a node that is complete"));
    }
    Leaf(mark, YAML::NullAnchor, a.cost);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_name_ = name; }

 private:
  struct Anchor {
    bool defined = false;
    bool open = false;
    std::string name;
    Cost cost;
  };
  struct Frame {
    YAML::anchor_t anchor;
    Cost cost;
  };

  [[noreturn]] void Refuse(const YAML::Mark& mark, const std::string& why) {
    throw Refusal{absl::InvalidArgumentError(absl::StrCat(Where(source_, mark), ": ", why))};
  }

  Anchor& Define(YAML::anchor_t anchor) {
    if (anchor >= anchors_.size()) {
      anchors_.resize(anchor + 1);
    }
    Anchor& a = anchors_[anchor];
    a = Anchor{true, false, pending_name_, Cost{}};
    pending_name_.clear();
    return a;
  }

  // Counts `cost` (a node at the current position) against the totals and the depth.
  void Account(const YAML::Mark& mark, const Cost& cost) {
    nodes_ = SaturatingAdd(nodes_, cost.nodes);
    scalar_bytes_ = SaturatingAdd(scalar_bytes_, cost.scalar_bytes);
    if (nodes_ > budget_.max_nodes) {
      Refuse(mark, absl::StrCat("more than ", budget_.max_nodes,
                                " YAML nodes (counting each alias as the node it refers to); "
                                "split the manifests into smaller texts"));
    }
    if (scalar_bytes_ > budget_.max_scalar_bytes) {
      Refuse(mark, absl::StrCat("more than ", budget_.max_scalar_bytes,
                                " bytes of scalar values (counting each alias as the node it "
                                "refers to)"));
    }
    if (open_.size() + cost.height > budget_.max_depth) {
      Refuse(mark, absl::StrCat("nested more than ", budget_.max_depth, " levels deep"));
    }
    if (++events_ % 4096 == 0 && cancelled_ && cancelled_()) {
      throw Refusal{absl::CancelledError(
          absl::StrCat(source_, ": cancelled by the caller while reading the manifest"))};
    }
  }

  void AddToParent(const Cost& cost) {
    if (open_.empty()) {
      return;
    }
    Cost& parent = open_.back().cost;
    parent.nodes = SaturatingAdd(parent.nodes, cost.nodes);
    parent.scalar_bytes = SaturatingAdd(parent.scalar_bytes, cost.scalar_bytes);
    parent.height = std::max(parent.height, cost.height + 1);
  }

  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor, const Cost& cost) {
    Account(mark, cost);
    if (anchor != YAML::NullAnchor) {
      Define(anchor).cost = cost;
    }
    AddToParent(cost);
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    Account(mark, Cost{1, 0, 1});
    if (anchor != YAML::NullAnchor) {
      Define(anchor).open = true;
    }
    open_.push_back(Frame{anchor, Cost{1, 0, 1}});
  }

  void Close() {
    Frame done = open_.back();
    open_.pop_back();
    if (done.anchor != YAML::NullAnchor) {
      Anchor& a = anchors_[done.anchor];
      a.open = false;
      a.cost = done.cost;
    }
    AddToParent(done.cost);
  }

  const std::string& source_;
  const YamlBudget& budget_;
  const std::function<bool()>& cancelled_;
  std::vector<Anchor> anchors_;  // by the parser's anchor number, per document
  std::vector<Frame> open_;      // the collections being read, outermost first
  std::string pending_name_;     // the anchor name announced for the next node
  uint64_t nodes_ = 0;
  uint64_t scalar_bytes_ = 0;
  uint64_t events_ = 0;
};

// yaml-cpp's scanner keeps every token of a flow collection (`[...]`, `{...}`) queued until the
// collection ends (it could be a key), so the event pass alone would let a large flow sequence
// cost gigabytes before its first event. Every flow entry but the first of its collection follows
// a `,`, and every collection starts with `[` or `{`: counting those bytes anywhere (in quotes,
// comments and block scalars too, which can only overcount) bounds the flow nodes from above
// without a lexer that hostile text could mislead.
absl::Status CheckFlowIndicators(absl::string_view text, const std::string& source,
                                 const YamlBudget& budget) {
  uint64_t indicators = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    indicators += c == ',' || c == '[' || c == '{';
    if (indicators > budget.max_nodes) {
      size_t line_start = text.rfind('\n', i);
      line_start = line_start == absl::string_view::npos ? 0 : line_start + 1;
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": line ", std::count(text.begin(), text.begin() + i, '\n') + 1, ", column ",
          i - line_start + 1, ": more than ", budget.max_nodes,
          " YAML nodes (counting the `,`, `[` and `{` of flow collections); split the manifests "
          "into smaller texts"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckYamlBudget(absl::string_view text, const std::string& source,
                             const YamlBudget& budget, const std::function<bool()>& cancelled) {
  if (text.size() > budget.max_text_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", text.size(),
                                                   " bytes is more than the limit of ",
                                                   budget.max_text_bytes, " bytes a manifest"));
  }
  if (absl::Status s = CheckFlowIndicators(text, source, budget); !s.ok()) {
    return s;
  }
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  BudgetCounter counter(source, budget, cancelled);
  try {
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const Refusal& r) {
    return r.status;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, e.mark), ": not valid YAML/JSON: ", e.msg));
  }
  return absl::OkStatus();
}

}  // namespace probesnat::policy
