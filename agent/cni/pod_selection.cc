#include "agent/cni/pod_selection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace probesnat::cni {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

SelectionDecision SelectPod(const PodSelection& selection, const std::string& namespace_name) {
  if (Contains(selection.exclude_namespaces, namespace_name)) {
    return {false, absl::StrCat("namespace ", namespace_name, " is in excludeNamespaces")};
  }
  if (selection.namespaces.empty()) {
    return {true, "every namespace is enrolled (no \"namespaces\" list)"};
  }
  if (Contains(selection.namespaces, namespace_name)) {
    return {true, absl::StrCat("namespace ", namespace_name, " is in namespaces")};
  }
  return {false, absl::StrCat("namespace ", namespace_name, " is not in namespaces")};
}

}  // namespace probesnat::cni
