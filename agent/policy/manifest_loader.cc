#include "agent/policy/manifest_loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/object_parsers.h"
#include "agent/policy/yaml_child.h"

namespace probesnat::policy {

namespace {

std::string ScalarOr(const YAML::Node& n, const std::string& fallback) {
  return n.IsDefined() && n.IsScalar() ? n.Scalar() : fallback;
}

std::string ObjectName(const std::string& kind, const YAML::Node& obj) {
  std::string name = ScalarOr(Child(Child(obj, "metadata"), "name"), "<unnamed>");
  if (kind == "Namespace") {
    return absl::StrCat(kind, " ", name);
  }
  return absl::StrCat(kind, " ", ScalarOr(Child(Child(obj, "metadata"), "namespace"), "default"),
                      "/", name);
}

class ObjectSink {
 public:
  ObjectSink(Cluster* cluster, std::vector<LoadProblem>* problems, std::string source,
             uint32_t max_depth)
      : cluster_(cluster), problems_(problems), source_(std::move(source)), max_depth_(max_depth) {}

  // `depth`: how many Lists contain `obj` (bounded, though the budget check already bounds it).
  void Add(const YAML::Node& obj, const std::string& inherited_kind, uint32_t depth = 0) {
    if (!obj.IsMap() || depth > max_depth_) {
      return;
    }
    std::string kind = ScalarOr(Child(obj, "kind"), inherited_kind);
    if (absl::EndsWith(kind, "List") && Child(obj, "items").IsDefined()) {
      const YAML::Node& items = Child(obj, "items");
      if (!items.IsSequence()) {
        return;
      }
      std::string item_kind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
      for (const auto& item : items) {
        Add(item, item_kind, depth + 1);
      }
      return;
    }
    std::string api = ScalarOr(Child(obj, "apiVersion"), "");
    std::vector<FieldProblem> fp;
    if (kind == "Namespace" && (api.empty() || api == "v1")) {
      if (auto ns = ParseNamespace(obj, &fp)) {
        UpsertNamespace(std::move(*ns));
      }
    } else if (kind == "Pod" && (api.empty() || api == "v1")) {
      if (auto pod = ParsePod(obj, &fp)) {
        cluster_->UpsertPod(std::move(*pod));
      }
    } else if (kind == "NetworkPolicy") {
      if (!api.empty() && api != "networking.k8s.io/v1") {
        fp.push_back({"apiVersion", absl::StrCat("\"", api, "\" is not networking.k8s.io/v1")});
      } else if (auto np = ParseNetworkPolicy(obj, &fp)) {
        cluster_->UpsertPolicy(std::move(*np));
      }
    } else {
      return;  // other kinds are not ours
    }
    for (FieldProblem& f : fp) {
      problems_->push_back(
          {source_, ObjectName(kind, obj), std::move(f.field), std::move(f.message)});
    }
  }

 private:
  void UpsertNamespace(Namespace ns) {
    for (Namespace& n : cluster_->namespaces) {
      if (n.name == ns.name) {
        n = std::move(ns);
        return;
      }
    }
    cluster_->namespaces.push_back(std::move(ns));
  }

  Cluster* cluster_;
  std::vector<LoadProblem>* problems_;
  std::string source_;
  uint32_t max_depth_;
};

bool IsManifestFile(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

}  // namespace

std::string LoadProblem::ToString() const {
  return absl::StrCat(source, ": ", object, ": ", field, ": ", message);
}

absl::Status ManifestLoader::AddText(absl::string_view text, const std::string& source) {
  if (absl::Status s = CheckYamlBudget(text, source, options_.budget, options_.cancelled);
      !s.ok()) {
    return s;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid YAML/JSON: line ",
                                                   e.mark.line + 1, ", column ", e.mark.column + 1,
                                                   ": ", e.msg));
  }
  ObjectSink sink(&cluster_, &problems_, source, options_.budget.max_depth);
  for (const YAML::Node& doc : docs) {
    if (options_.cancelled && options_.cancelled()) {
      return absl::CancelledError(
          absl::StrCat(source, ": cancelled by the caller while reading the manifest"));
    }
    try {
      sink.Add(doc, "");
    } catch (const YAML::Exception& e) {
      problems_.push_back({source, "<document>", "", e.what()});
    }
  }
  return absl::OkStatus();
}

absl::Status ManifestLoader::AddFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  }
  std::error_code ec;
  if (uintmax_t size = std::filesystem::file_size(path, ec);
      !ec && size > options_.budget.max_text_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size, " bytes is more than the limit of ",
                     options_.budget.max_text_bytes, " bytes a manifest"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read error"));
  }
  return AddText(ss.str(), path);
}

absl::Status ManifestLoader::AddPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (!fs::is_directory(st)) {
    return AddFile(path);
  }
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && IsManifestFile(it->path())) {
      files.push_back(it->path().string());
    }
  }
  if (ec) {
    return absl::InternalError(absl::StrCat(path, ": cannot list: ", ec.message()));
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    if (absl::Status s = AddFile(f); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

Cluster ManifestLoader::TakeCluster() {
  cluster_.AddImplicitNamespaces();
  Cluster out = std::move(cluster_);
  cluster_ = Cluster();
  return out;
}

}  // namespace probesnat::policy
