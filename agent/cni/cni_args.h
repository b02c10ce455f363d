#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace probesnat::cni {

// CNI_ARGS: "KEY=VALUE;KEY=VALUE" (libcni's format). Errors are CNI errors (code 4): an empty
// pair, a pair without '=', an empty key, a key given twice, a NUL byte.
absl::StatusOr<std::map<std::string, std::string>> ParseCniArgs(absl::string_view text);

// The pod a sandbox belongs to, from the K8S_POD_* arguments the kubelet's runtime passes.
struct PodIdentity {
  std::string namespace_name;
  std::string name;
  // K8S_POD_UID; runtimes that do not pass it get "cni-<container id>", stable for the sandbox.
  std::string uid;
  bool uid_from_container_id = false;
};

// K8S_POD_NAMESPACE and K8S_POD_NAME are required (code 4 when absent or not Kubernetes
// names); K8S_POD_UID when present must be a uid probesnatd accepts (letters, digits, '-', '.',
// '_', at most 128).
absl::StatusOr<PodIdentity> PodIdentityFromArgs(const std::map<std::string, std::string>& args,
                                                absl::string_view container_id);

// Whether `id` can name a sandbox in file names: 1-128 of [A-Za-z0-9_.-], not "." or "..".
bool IsContainerId(absl::string_view id);
// An interface name the kernel accepts: 1-15 bytes, no '/', ':', whitespace or NUL.
bool IsInterfaceName(absl::string_view name);

}  // namespace probesnat::cni
