#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace probesnat::policy {

// How much YAML/JSON one manifest text may make the loader build and walk. yaml-cpp spends about
// 500 bytes on a node, so a text at the node limit costs about 260 MB while it is read; that holds
// a `kubectl get pods -o yaml` List of a few thousand pods (90-300 nodes a pod). Larger snapshots
// go as several texts, each budgeted and freed on its own.
struct YamlBudget {
  uint64_t max_text_bytes = 64ull << 20;
  // Nodes (scalars, sequences, maps), counted with every alias expanded: what a walk visits.
  uint64_t max_nodes = 500'000;
  // Bytes of scalar text, counted with every alias expanded: what copying the values costs.
  uint64_t max_scalar_bytes = 64ull << 20;
  // Nesting of sequences and maps, aliases expanded (Kubernetes objects nest about 10 deep).
  uint32_t max_depth = 100;
};

// Checks `text` against `budget` in one streaming pass over the parser's events, without building
// a node graph, so that an oversized or hostile document is refused before it is loaded. Also
// refuses an alias to a node that contains it (a cycle: `&a [*a]`). `cancelled`, when set, is
// polled every few thousand events.
// Errors: INVALID_ARGUMENT naming the limit (or the cycle) and where in `source` it was reached;
// CANCELLED when `cancelled` returned true; INVALID_ARGUMENT for text that is not YAML/JSON.
absl::Status CheckYamlBudget(absl::string_view text, const std::string& source,
                             const YamlBudget& budget,
                             const std::function<bool()>& cancelled = nullptr);

}  // namespace probesnat::policy
