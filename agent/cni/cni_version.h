#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace probesnat::cni {

// The CNI specification versions probesnat-cni speaks. 0.4.0 configs are accepted (ADD, DEL,
// CHECK); STATUS and GC exist from 1.1.0 on.
inline constexpr char kNewestVersion[] = "1.1.0";
const std::vector<std::string>& SupportedVersions();

bool IsSupportedVersion(absl::string_view version);
// Whether `version` (a supported one) has the STATUS and GC verbs.
bool HasStatusAndGc(absl::string_view version);

// The VERSION verb's answer: {"cniVersion": ..., "supportedVersions": [...]}.
std::string VersionJson(absl::string_view cni_version);

}  // namespace probesnat::cni
