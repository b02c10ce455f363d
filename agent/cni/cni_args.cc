#include "agent/cni/cni_args.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/cni/cni_error.h"
#include "base/k8s_names.h"

namespace probesnat::cni {
namespace {

constexpr size_t kMaxUid = 128;

bool IsUid(absl::string_view s) {
  if (s.empty() || s.size() > kMaxUid) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

absl::Status BadArgs(absl::string_view why) {
  return CniStatus(CniCode::kInvalidEnvironment, absl::StrCat("invalid CNI_ARGS: ", why));
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseCniArgs(absl::string_view text) {
  std::map<std::string, std::string> out;
  if (text.empty()) {
    return out;
  }
  if (text.find('\0') != absl::string_view::npos) {
    return BadArgs("contains a NUL byte");
  }
  for (absl::string_view pair : absl::StrSplit(text, ';')) {
    if (pair.empty()) {
      return BadArgs("empty KEY=VALUE pair");
    }
    size_t eq = pair.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return BadArgs(absl::StrCat("\"", pair.substr(0, 64), "\" is not KEY=VALUE"));
    }
    std::string key(pair.substr(0, eq));
    if (!out.emplace(key, std::string(pair.substr(eq + 1))).second) {
      return BadArgs(absl::StrCat("key ", key, " given twice"));
    }
  }
  return out;
}

absl::StatusOr<PodIdentity> PodIdentityFromArgs(const std::map<std::string, std::string>& args,
                                                absl::string_view container_id) {
  PodIdentity pod;
  auto ns = args.find("K8S_POD_NAMESPACE");
  auto name = args.find("K8S_POD_NAME");
  if (ns == args.end() || name == args.end()) {
    return CniStatus(CniCode::kInvalidEnvironment,
                     "CNI_ARGS lacks K8S_POD_NAMESPACE or K8S_POD_NAME",
                     "probesnat-cni enrolls Kubernetes pods; the container runtime passes these "
                     "arguments for pod sandboxes");
  }
  if (!IsDns1123Label(ns->second)) {
    return BadArgs(absl::StrCat("K8S_POD_NAMESPACE \"", ns->second.substr(0, 64),
                                "\" is not a namespace name"));
  }
  if (!IsDns1123Subdomain(name->second)) {
    return BadArgs(
        absl::StrCat("K8S_POD_NAME \"", name->second.substr(0, 64), "\" is not a pod name"));
  }
  pod.namespace_name = ns->second;
  pod.name = name->second;
  if (auto uid = args.find("K8S_POD_UID"); uid != args.end() && !uid->second.empty()) {
    if (!IsUid(uid->second)) {
      return BadArgs(absl::StrCat("K8S_POD_UID \"", uid->second.substr(0, 64),
                                  "\" is not a pod uid (letters, digits, '-', '.', '_')"));
    }
    pod.uid = uid->second;
  } else {
    pod.uid = absl::StrCat("cni-", container_id).substr(0, kMaxUid);
    pod.uid_from_container_id = true;
  }
  return pod;
}

bool IsContainerId(absl::string_view id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") {
    return false;
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

bool IsInterfaceName(absl::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || absl::ascii_isspace(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace probesnat::cni
