#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "agent/policy/model.h"
#include "agent/policy/yaml_budget.h"

namespace probesnat::policy {

// An object that was skipped because it is invalid, e.g.
// "cluster.yaml: NetworkPolicy prod/allow-web: spec.ingress[0].from[0].ipBlock.cidr: ...".
struct LoadProblem {
  std::string source;  // file name (or "manifest[3]" for in-memory input)
  std::string object;  // "Kind namespace/name"
  std::string field;
  std::string message;
  std::string ToString() const;
};

// Reads Namespaces, Pods and networking.k8s.io/v1 NetworkPolicies from ordinary manifests: YAML or
// JSON, multi-document, `kind: List` (and typed lists), files or directories (*.yaml, *.yml,
// *.json, recursively). Other kinds are skipped. Invalid objects are skipped and reported; a
// later object with the same kind/namespace/name replaces an earlier one.
//
// Each file or text is first checked against a YamlBudget (size, nodes and depth with aliases
// expanded, no alias cycles) without building it, so hostile input is refused before it costs
// memory or time.
struct ManifestLoaderOptions {
  YamlBudget budget;
  // Polled while reading; returning true stops the load with CANCELLED. Empty: never.
  std::function<bool()> cancelled;
};

class ManifestLoader {
 public:
  explicit ManifestLoader(ManifestLoaderOptions options = ManifestLoaderOptions())
      : options_(std::move(options)) {}

  // Errors: the path cannot be read; a document is not well-formed YAML/JSON or exceeds the
  // budget (INVALID_ARGUMENT); the caller cancelled (CANCELLED).
  absl::Status AddPath(const std::string& path);
  absl::Status AddText(absl::string_view text, const std::string& source);

  const std::vector<LoadProblem>& problems() const { return problems_; }
  // The cluster read so far, with implicit namespaces added.
  Cluster TakeCluster();

 private:
  absl::Status AddFile(const std::string& path);
  ManifestLoaderOptions options_;
  Cluster cluster_;
  std::vector<LoadProblem> problems_;
};

}  // namespace probesnat::policy
