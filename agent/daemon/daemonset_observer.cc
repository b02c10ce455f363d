#include "agent/daemon/daemonset_observer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace probesnat::daemon {
namespace {

std::string StringAt(const nlohmann::json& object, const char* key) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return "";
  }
  auto it = meta->find(key);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

DaemonSetObserver::DaemonSetObserver(KubernetesApi api, std::string ns, std::string name,
                                     absl::Duration timeout)
    : api_(std::move(api)), ns_(std::move(ns)), name_(std::move(name)), timeout_(timeout) {}

// One GET of the object; the first uid seen is remembered (that is what Arm keeps).
DaemonSetObserver::Observation DaemonSetObserver::Get() {
  const std::string path = absl::StrCat("/apis/apps/v1/namespaces/", ns_, "/daemonsets/", name_);
  absl::StatusOr<HttpAnswer> got = KubernetesGet(api_, path, timeout_);
  Observation o;
  if (!got.ok()) {
    o.detail = std::string(got.status().message());
    return o;
  }
  if (got->status == 404) {
    o.state = State::kGone;
    o.detail = absl::StrCat("DaemonSet ", object(), " is gone (404 from ", api_.base_url, ")");
    return o;
  }
  if (got->status != 200) {
    o.detail = absl::StrCat("GET ", api_.base_url, path, ": HTTP ", got->status);
    return o;
  }
  nlohmann::json body = nlohmann::json::parse(got->body, nullptr, /*allow_exceptions=*/false);
  const std::string uid = body.is_object() ? StringAt(body, "uid") : "";
  if (uid.empty()) {
    o.detail = absl::StrCat("GET ", api_.base_url, path, ": HTTP 200 without metadata.uid");
    return o;
  }
  const std::string deleting = StringAt(body, "deletionTimestamp");
  if (!uid_.empty() && uid != uid_) {
    o.state = State::kGone;
    o.detail = absl::StrCat("DaemonSet ", object(), " was deleted and created again (uid ", uid_,
                            " at start, now ", uid, ")");
  } else if (!deleting.empty()) {
    o.state = State::kDeleting;
    o.detail = absl::StrCat("DaemonSet ", object(), " is being deleted (deletionTimestamp ",
                            deleting, ")");
  } else {
    o.state = State::kPresent;
    o.detail = absl::StrCat("DaemonSet ", object(), " (uid ", uid, ") exists");
  }
  if (uid_.empty()) {
    uid_ = uid;  // Arm
  }
  return o;
}

DaemonSetObserver::Observation DaemonSetObserver::Arm() {
  Observation o = Get();
  if (o.state != State::kPresent) {
    uid_.clear();
    o.state = State::kUnknown;
  }
  return o;
}

DaemonSetObserver::Observation DaemonSetObserver::Observe() {
  if (uid_.empty()) {
    return {State::kUnknown,
            absl::StrCat("DaemonSet ", object(), " not asked: it was not seen at start")};
  }
  return Get();
}

}  // namespace probesnat::daemon
