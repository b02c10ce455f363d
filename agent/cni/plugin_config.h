#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace probesnat::cni {

// What to do when probesnatd cannot be reached (or fails) on ADD.
enum class FailurePolicy {
  kFailClosed,  // ADD fails; the runtime does not create the sandbox and the kubelet retries
  kFailOpen,    // ADD succeeds; the pod runs without the mesh rules (logged, recorded for CHECK)
};

// Which pods join the mesh. A CNI plugin sees the pod's namespace and name (CNI_ARGS), not its
// labels or annotations, so the choice is made by namespace; a pod is enrolled when its namespace
// is in `namespaces` (or that list is empty) and not in `exclude_namespaces`.
struct PodSelection {
  std::vector<std::string> namespaces;
  std::vector<std::string> exclude_namespaces;
};

// One attachment the runtime still holds (GC's "cni.dev/valid-attachments").
struct Attachment {
  std::string container_id;
  std::string ifname;
  bool operator==(const Attachment&) const = default;
};

// The plugin's configuration as the runtime hands it on stdin: the conflist entry plus the
// fields the runtime adds (prevResult, runtimeConfig, cni.dev/valid-attachments).
struct PluginConfig {
  std::string cni_version;
  std::string name;  // the network's name
  std::string type;
  std::string socket = "/run/probesnat/probesnat.sock";
  absl::Duration timeout = absl::Seconds(5);
  FailurePolicy failure_policy = FailurePolicy::kFailClosed;
  PodSelection selection;
  std::string policy_mode;  // "", "off", "warn" or "enforce" (can only tighten the agent's)
  std::string state_dir = "/var/lib/cni/probesnat";
  std::optional<nlohmann::ordered_json> prev_result;
  std::vector<Attachment> valid_attachments;
};

inline constexpr size_t kMaxConfigBytes = 1 << 20;

// Parses and checks the configuration. Errors are CNI errors (CniStatus): 6 for bytes that are
// not a JSON object, 1 for an unsupported cniVersion, 2 for a key probesnat-cni does not know
// (a typo must not silently change behaviour), 7 for a bad value.
absl::StatusOr<PluginConfig> ParsePluginConfig(absl::string_view bytes);

// The cniVersion of a configuration that may be broken, for the error answer; the newest
// supported version when none can be read.
std::string BestEffortVersion(absl::string_view bytes);

}  // namespace probesnat::cni
