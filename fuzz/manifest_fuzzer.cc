// libFuzzer: a Policy.ReplaceSnapshot manifest (YAML or JSON text) through the manifest loader
// with the agent's budget, then the evaluator and the mesh-compatibility analysis of every pod it
// holds (bounded, so a large valid input costs no more than a small one).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/policy/analysis.h"
#include "agent/policy/evaluator.h"
#include "agent/policy/manifest_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  probesnat::policy::ManifestLoaderOptions options;
  // The agent's budget, scaled to what one fuzz input can be (libFuzzer's -max_len).
  options.budget.max_nodes = 20'000;
  probesnat::policy::ManifestLoader loader(options);
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (!loader.AddText(text, "fuzz").ok()) {
    return 0;
  }
  probesnat::policy::Evaluator evaluator(loader.TakeCluster());
  std::vector<int> pods;
  for (int i = 0; i < evaluator.pod_count() && i < 16; ++i) {
    pods.push_back(i);
  }
  for (int i : pods) {
    (void)probesnat::policy::Analyze(evaluator, {i}, pods, probesnat::policy::AnalysisOptions());
  }
  return 0;
}
