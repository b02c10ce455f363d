#include "agent/cli/pod_file.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "agent/policy/yaml_budget.h"
#include "google/protobuf/util/json_util.h"

namespace probesnat::cli {
namespace {

constexpr size_t kMaxFileBytes = 16 << 20;

// YAML to JSON for the proto parser: plain true/false are booleans, every other scalar a string
// (the parser accepts strings for number fields, and labels stay strings).
// The text was checked against a YamlBudget first: depth and size are bounded.
absl::StatusOr<nlohmann::json> ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& kv : node) {
        absl::StatusOr<nlohmann::json> v = ToJson(kv.second);
        if (!v.ok()) {
          return v.status();
        }
        j[kv.first.as<std::string>()] = *std::move(v);
      }
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& item : node) {
        absl::StatusOr<nlohmann::json> v = ToJson(item);
        if (!v.ok()) {
          return v.status();
        }
        j.push_back(*std::move(v));
      }
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() != "!" && (text == "true" || text == "false")) {
        return nlohmann::json(text == "true");
      }
      return nlohmann::json(text);
    }
    default:
      return nlohmann::json();
  }
}

absl::Status AddPods(const nlohmann::json& doc, const std::string& where,
                     std::vector<probesnat::v1::Pod>& pods) {
  if (doc.is_null()) {
    return absl::OkStatus();
  }
  if (doc.is_array()) {
    for (size_t i = 0; i < doc.size(); ++i) {
      if (absl::Status st = AddPods(doc[i], absl::StrCat(where, "[", i, "]"), pods); !st.ok()) {
        return st;
      }
    }
    return absl::OkStatus();
  }
  if (doc.is_object() && doc.contains("pods")) {
    return AddPods(doc["pods"], where + ".pods", pods);
  }
  // What `list -o yaml` prints holds statuses: take their pod.
  const nlohmann::json& pod = doc.is_object() && doc.contains("pod") ? doc["pod"] : doc;
  probesnat::v1::Pod parsed;
  google::protobuf::util::JsonParseOptions options;
  const auto st = google::protobuf::util::JsonStringToMessage(pod.dump(), &parsed, options);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not a pod: ", std::string(st.message())));
  }
  pods.push_back(std::move(parsed));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<probesnat::v1::Pod>> ReadPodFile(const std::string& path) {
  std::string text;
  {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
      file.open(path, std::ios::binary);
      if (!file) {
        return absl::NotFoundError(absl::StrCat("cannot read ", path));
      }
      in = &file;
    }
    std::ostringstream buf;
    buf << in->rdbuf();
    text = buf.str();
  }
  policy::YamlBudget budget;
  budget.max_text_bytes = kMaxFileBytes;
  if (absl::Status st = policy::CheckYamlBudget(text, path, budget); !st.ok()) {
    return st;
  }
  std::vector<probesnat::v1::Pod> pods;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    for (size_t i = 0; i < docs.size(); ++i) {
      const std::string where = absl::StrCat(path, " document ", i + 1);
      absl::StatusOr<nlohmann::json> doc = ToJson(docs[i]);
      if (!doc.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", doc.status().message()));
      }
      if (absl::Status st = AddPods(*doc, where, pods); !st.ok()) {
        return st;
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  if (pods.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no pod in it"));
  }
  return pods;
}

}  // namespace probesnat::cli
