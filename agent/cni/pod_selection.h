#pragma once

#include <string>

#include "agent/cni/plugin_config.h"

namespace probesnat::cni {

// Whether a pod of namespace `namespace_name` joins the mesh: listed in selection.namespaces (or
// that list is empty) and not listed in selection.exclude_namespaces (the deny list wins).
struct SelectionDecision {
  bool enroll = false;
  std::string reason;  // for the log: which list decided
};
SelectionDecision SelectPod(const PodSelection& selection, const std::string& namespace_name);

}  // namespace probesnat::cni
