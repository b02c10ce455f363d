#include "agent/cni/plugin_config.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/cni/cni_error.h"
#include "agent/cni/cni_version.h"
#include "base/k8s_names.h"

namespace probesnat::cni {
namespace {

using json = nlohmann::ordered_json;

constexpr absl::Duration kMaxTimeout = absl::Minutes(2);

// Keys of the specification (well-known or runtime-added) and probesnat-cni's own.
const std::set<std::string>& KnownKeys() {
  static const std::set<std::string>* keys = new std::set<std::string>{
      // specification
      "cniVersion", "name", "type", "args", "ipMasq", "ipam", "dns", "capabilities",
      "runtimeConfig", "prevResult", "cni.dev/valid-attachments",
      // probesnat-cni
      "socket", "timeout", "failurePolicy", "namespaces", "excludeNamespaces", "policyMode",
      "stateDir"};
  return *keys;
}

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return CniStatus(CniCode::kInvalidConfig, absl::StrCat("invalid \"", field, "\": ", why));
}

absl::StatusOr<std::string> String(const json& doc, const char* key, bool required) {
  auto it = doc.find(key);
  if (it == doc.end()) {
    if (required) {
      return CniStatus(CniCode::kInvalidConfig, absl::StrCat("missing \"", key, "\""));
    }
    return std::string();
  }
  if (!it->is_string()) {
    return Invalid(key, "must be a string");
  }
  std::string value = it->get<std::string>();
  if (value.find('\0') != std::string::npos) {
    return Invalid(key, "contains a NUL byte");
  }
  return value;
}

absl::StatusOr<std::vector<std::string>> NamespaceList(const json& doc, const char* key) {
  std::vector<std::string> out;
  auto it = doc.find(key);
  if (it == doc.end()) {
    return out;
  }
  if (!it->is_array()) {
    return Invalid(key, "must be a list of namespace names");
  }
  for (const json& item : *it) {
    if (!item.is_string() || !IsDns1123Label(item.get<std::string>())) {
      return Invalid(key, absl::StrCat(item.dump(), " is not a Kubernetes namespace name"));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// A network name (spec: alphanumerics, '-', '_', '.').
bool IsNetworkName(absl::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::vector<Attachment>> ValidAttachments(const json& doc) {
  std::vector<Attachment> out;
  auto it = doc.find("cni.dev/valid-attachments");
  if (it == doc.end()) {
    return out;
  }
  if (!it->is_array()) {
    return Invalid("cni.dev/valid-attachments", "must be a list");
  }
  for (const json& item : *it) {
    if (!item.is_object() || !item.contains("containerID") || !item["containerID"].is_string() ||
        !item.contains("ifname") || !item["ifname"].is_string()) {
      return Invalid("cni.dev/valid-attachments",
                     absl::StrCat(item.dump(), " is not {\"containerID\", \"ifname\"}"));
    }
    out.push_back({item["containerID"].get<std::string>(), item["ifname"].get<std::string>()});
  }
  return out;
}

}  // namespace

std::string BestEffortVersion(absl::string_view bytes) {
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (doc.is_object()) {
    auto it = doc.find("cniVersion");
    if (it != doc.end() && it->is_string() && IsSupportedVersion(it->get<std::string>())) {
      return it->get<std::string>();
    }
  }
  return kNewestVersion;
}

absl::StatusOr<PluginConfig> ParsePluginConfig(absl::string_view bytes) {
  if (bytes.size() > kMaxConfigBytes) {
    return CniStatus(CniCode::kDecodeFailure,
                     absl::StrCat("network configuration larger than ", kMaxConfigBytes, " bytes"));
  }
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (doc.is_discarded()) {
    return CniStatus(CniCode::kDecodeFailure, "network configuration is not valid JSON");
  }
  if (!doc.is_object()) {
    return CniStatus(CniCode::kDecodeFailure, "network configuration is not a JSON object");
  }
  for (const auto& [key, value] : doc.items()) {
    if (!KnownKeys().contains(key)) {
      return CniStatus(CniCode::kUnsupportedField,
                       absl::StrCat("unknown configuration key \"", key, "\""),
                       absl::StrCat("known keys: ", absl::StrJoin(KnownKeys(), ", ")));
    }
  }

  PluginConfig config;
  absl::StatusOr<std::string> version = String(doc, "cniVersion", true);
  if (!version.ok()) {
    return version.status();
  }
  if (!IsSupportedVersion(*version)) {
    return CniStatus(CniCode::kIncompatibleVersion,
                     absl::StrCat("cniVersion \"", *version, "\" is not supported"),
                     absl::StrCat("supported: ", absl::StrJoin(SupportedVersions(), ", ")));
  }
  config.cni_version = *version;

  absl::StatusOr<std::string> name = String(doc, "name", true);
  if (!name.ok()) {
    return name.status();
  }
  if (!IsNetworkName(*name)) {
    return Invalid("name", "a network name is 1-253 characters of letters, digits, '-', '_', '.'");
  }
  config.name = *name;
  absl::StatusOr<std::string> type = String(doc, "type", true);
  if (!type.ok()) {
    return type.status();
  }
  config.type = *type;

  if (absl::StatusOr<std::string> socket = String(doc, "socket", false); !socket.ok()) {
    return socket.status();
  } else if (!socket->empty()) {
    if ((*socket)[0] != '/') {
      return Invalid("socket", "must be an absolute path");
    }
    config.socket = *socket;
  }

  if (absl::StatusOr<std::string> timeout = String(doc, "timeout", false); !timeout.ok()) {
    return timeout.status();
  } else if (!timeout->empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(*timeout, &d) || d <= absl::ZeroDuration() || d > kMaxTimeout) {
      return Invalid("timeout", absl::StrCat("\"", *timeout,
                                             "\" is not a duration between 0 and 2m (e.g. \"5s\", "
                                             "\"500ms\")"));
    }
    config.timeout = d;
  }

  if (absl::StatusOr<std::string> policy = String(doc, "failurePolicy", false); !policy.ok()) {
    return policy.status();
  } else if (*policy == "failOpen") {
    config.failure_policy = FailurePolicy::kFailOpen;
  } else if (!policy->empty() && *policy != "failClosed") {
    return Invalid("failurePolicy", "must be \"failClosed\" or \"failOpen\"");
  }

  absl::StatusOr<std::vector<std::string>> allow = NamespaceList(doc, "namespaces");
  if (!allow.ok()) {
    return allow.status();
  }
  absl::StatusOr<std::vector<std::string>> deny = NamespaceList(doc, "excludeNamespaces");
  if (!deny.ok()) {
    return deny.status();
  }
  config.selection = {*std::move(allow), *std::move(deny)};

  if (absl::StatusOr<std::string> mode = String(doc, "policyMode", false); !mode.ok()) {
    return mode.status();
  } else if (!mode->empty() && *mode != "off" && *mode != "warn" && *mode != "enforce") {
    return Invalid("policyMode", "must be \"off\", \"warn\" or \"enforce\"");
  } else {
    config.policy_mode = *mode;
  }

  if (absl::StatusOr<std::string> dir = String(doc, "stateDir", false); !dir.ok()) {
    return dir.status();
  } else if (!dir->empty()) {
    if ((*dir)[0] != '/') {
      return Invalid("stateDir", "must be an absolute path");
    }
    config.state_dir = *dir;
  }

  if (auto it = doc.find("prevResult"); it != doc.end()) {
    if (!it->is_object()) {
      return Invalid("prevResult", "must be a JSON object (the previous plugin's result)");
    }
    config.prev_result = *it;
  }
  absl::StatusOr<std::vector<Attachment>> attachments = ValidAttachments(doc);
  if (!attachments.ok()) {
    return attachments.status();
  }
  config.valid_attachments = *std::move(attachments);
  return config;
}

}  // namespace probesnat::cni
