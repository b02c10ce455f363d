#include "agent/daemon/pod_store.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace probesnat::daemon {

void PodStore::SetListener(EnrolledSetListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
  if (listener_.upserted) {
    for (const auto& [uid, status] : pods_) {
      listener_.upserted(status.spec);
    }
  }
}

void PodStore::Put(const agent::PodState& status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, fresh] = pods_.try_emplace(status.spec.uid);
  const bool spec_changed = fresh || it->second.spec != status.spec;
  it->second = status;
  if (spec_changed && listener_.upserted) {
    listener_.upserted(status.spec);
  }
  events_.Publish(status);
}

void PodStore::Erase(const std::string& uid, const agent::PodState& removed) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pods_.erase(uid) == 0) {
    return;
  }
  if (listener_.removed) {
    listener_.removed(uid);
  }
  events_.Publish(removed);
}

std::vector<agent::PodState> PodStore::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<agent::PodState> out;
  out.reserve(pods_.size());
  for (const auto& [uid, status] : pods_) {
    out.push_back(status);
  }
  return out;
}

absl::StatusOr<agent::PodState> PodStore::Get(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("pod uid ", uid, " is not enrolled"));
  }
  return it->second;
}

std::shared_ptr<StatusSubscription> PodStore::Watch(bool initial_state) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<agent::PodState> initial;
  if (initial_state) {
    initial.reserve(pods_.size());
    for (const auto& [uid, status] : pods_) {
      initial.push_back(status);
    }
  }
  return events_.Subscribe(std::move(initial));
}

}  // namespace probesnat::daemon
