#include "agent/cni/cni_version.h"

#include <algorithm>

#include "nlohmann/json.hpp"

namespace probesnat::cni {

const std::vector<std::string>& SupportedVersions() {
  static const std::vector<std::string>* versions =
      new std::vector<std::string>{"0.4.0", "1.0.0", "1.1.0"};
  return *versions;
}

bool IsSupportedVersion(absl::string_view version) {
  const std::vector<std::string>& all = SupportedVersions();
  return std::find(all.begin(), all.end(), version) != all.end();
}

bool HasStatusAndGc(absl::string_view version) { return version == "1.1.0"; }

std::string VersionJson(absl::string_view cni_version) {
  nlohmann::ordered_json doc;
  doc["cniVersion"] = std::string(cni_version);
  doc["supportedVersions"] = SupportedVersions();
  return doc.dump();
}

}  // namespace probesnat::cni
