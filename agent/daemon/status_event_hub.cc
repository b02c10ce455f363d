#include "agent/daemon/status_event_hub.h"

#include <algorithm>

namespace probesnat::daemon {

StatusSubscription::Next StatusSubscription::Pop(absl::Duration timeout, v1::PodStatus* out) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
               [&] { return !queue_.empty() || closed_ || overflowed_; });
  if (overflowed_) {
    return Next::kOverflowed;
  }
  if (!queue_.empty()) {
    *out = std::move(queue_.front());
    queue_.pop_front();
    return Next::kEvent;
  }
  return closed_ ? Next::kClosed : Next::kTimeout;
}

void StatusSubscription::Push(const v1::PodStatus& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || overflowed_) {
      return;
    }
    if (queue_.size() >= limit_) {
      overflowed_ = true;
      queue_.clear();
    } else {
      queue_.push_back(status);
    }
  }
  cv_.notify_one();
}

void StatusSubscription::Preload(std::vector<v1::PodStatus> initial) {
  std::lock_guard<std::mutex> lock(mu_);
  for (v1::PodStatus& s : initial) {
    queue_.push_back(std::move(s));
  }
}

void StatusSubscription::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

std::shared_ptr<StatusSubscription> StatusEventHub::Subscribe(std::vector<v1::PodStatus> initial) {
  auto sub = std::make_shared<StatusSubscription>(limit_);
  sub->Preload(std::move(initial));
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) {
    sub->Close();
  } else {
    subs_.push_back(sub);
  }
  return sub;
}

void StatusEventHub::Unsubscribe(const std::shared_ptr<StatusSubscription>& sub) {
  std::lock_guard<std::mutex> lock(mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), sub), subs_.end());
}

void StatusEventHub::Publish(const v1::PodStatus& status) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& sub : subs_) {
    sub->Push(status);
  }
}

void StatusEventHub::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  for (const auto& sub : subs_) {
    sub->Close();
  }
  subs_.clear();
}

size_t StatusEventHub::subscriber_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subs_.size();
}

}  // namespace probesnat::daemon
