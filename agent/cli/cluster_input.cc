#include "agent/cli/cluster_input.h"

#include <ostream>

#include "agent/policy/manifest_loader.h"

namespace probesnat::cli {

absl::StatusOr<policy::Cluster> LoadClusters(const std::vector<std::string>& paths,
                                             std::ostream& warnings) {
  policy::ManifestLoader loader;
  for (const std::string& path : paths) {
    if (absl::Status s = loader.AddPath(path); !s.ok()) {
      return s;
    }
  }
  for (const policy::LoadProblem& p : loader.problems()) {
    warnings << "probesnatctl: warning: skipped invalid object: " << p.ToString() << "\n";
  }
  return loader.TakeCluster();
}

}  // namespace probesnat::cli
