#pragma once

#include <yaml-cpp/yaml.h>

namespace probesnat::policy {

// A child of a map node; a null node when `n` is not a map or has no such key (never throws, and
// unlike operator[] on a const node never inserts).
inline YAML::Node Child(const YAML::Node& n, const char* key) {
  if (!n.IsDefined() || !n.IsMap()) {
    return YAML::Node();
  }
  YAML::Node c = n[key];
  return c.IsDefined() ? c : YAML::Node();
}

}  // namespace probesnat::policy
