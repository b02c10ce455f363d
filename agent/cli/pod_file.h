#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::cli {

// The pods a file names for `enroll -f` / `sync -f`, in the API's own field names (uid, namespace,
// name, labels, ips, netns_path, container_ports, probe_ports, overrides), as YAML or JSON: one pod,
// a list of pods, {pods: [...]} (what `list -o yaml` prints), or several YAML documents. "-" is
// stdin. Errors name the file, the document and the field.
absl::StatusOr<std::vector<probesnat::v1::Pod>> ReadPodFile(const std::string& path);

}  // namespace probesnat::cli
