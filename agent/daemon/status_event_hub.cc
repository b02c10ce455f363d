#include "agent/daemon/status_event_hub.h"

#include <algorithm>

namespace probesnat::daemon {
namespace {

size_t StringBytes(const std::string& s) { return sizeof(std::string) + s.capacity(); }

}  // namespace

size_t EventBytes(const agent::PodState& state) {
  const agent::PodSpec& spec = state.spec;
  size_t bytes = sizeof(state) + StringBytes(state.reason) + StringBytes(spec.uid) +
                 StringBytes(spec.ns) + StringBytes(spec.name) + StringBytes(spec.netns_path) +
                 spec.ips.size() * sizeof(IpAddress) + spec.probe_ports.size() * sizeof(uint16_t);
  for (const auto& [key, value] : spec.labels) {
    bytes += StringBytes(key) + StringBytes(value) + 32;  // a map node's own pointers
  }
  for (const agent::ContainerPort& port : spec.container_ports) {
    bytes += sizeof(port) + port.name.capacity();
  }
  for (const agent::Finding& f : state.findings) {
    bytes += sizeof(f) + f.subject.capacity() + f.policy_namespace.capacity() +
             f.policy_name.capacity() + f.message.capacity() + f.fix_yaml.capacity();
    for (const std::string& peer : f.affected_peers) {
      bytes += StringBytes(peer);
    }
  }
  return bytes;
}

StatusSubscription::~StatusSubscription() { Discard(); }

StatusSubscription::Next StatusSubscription::Pop(absl::Duration timeout, agent::PodState* out) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
               [&] { return !queue_.empty() || closed_ || overflowed_; });
  if (overflowed_) {
    return Next::kOverflowed;
  }
  if (!queue_.empty()) {
    Entry& e = queue_.front();
    *out = std::move(e.status);
    bytes_ -= e.bytes;
    total_->fetch_sub(e.bytes);
    queue_.pop_front();
    return Next::kEvent;
  }
  return closed_ ? Next::kClosed : Next::kTimeout;
}

void StatusSubscription::ClearLocked() {
  total_->fetch_sub(bytes_);
  bytes_ = 0;
  queue_.clear();
}

void StatusSubscription::Push(const agent::PodState& status, size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || overflowed_) {
      return;
    }
    if (queue_.size() >= limits_.events_per_subscriber ||
        bytes_ + bytes > limits_.bytes_per_subscriber) {
      overflowed_ = true;
      ClearLocked();
    } else {
      queue_.push_back(Entry{status, bytes});
      bytes_ += bytes;
      total_->fetch_add(bytes);
    }
  }
  cv_.notify_one();
}

void StatusSubscription::Preload(std::vector<agent::PodState> initial) {
  std::lock_guard<std::mutex> lock(mu_);
  for (agent::PodState& s : initial) {
    queue_.push_back(Entry{std::move(s), 0});
  }
}

void StatusSubscription::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

void StatusSubscription::Overflow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    overflowed_ = true;
    ClearLocked();
  }
  cv_.notify_all();
}

void StatusSubscription::Discard() {
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
}

size_t StatusSubscription::queued_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

std::shared_ptr<StatusSubscription> StatusEventHub::Subscribe(
    std::vector<agent::PodState> initial) {
  auto sub = std::make_shared<StatusSubscription>(limits_, total_);
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    subs_.erase(std::remove(subs_.begin(), subs_.end(), sub), subs_.end());
  }
  sub->Discard();
}

void StatusEventHub::Publish(const agent::PodState& status) {
  const size_t bytes = EventBytes(status);
  std::lock_guard<std::mutex> lock(mu_);
  while (total_->load() + bytes * subs_.size() > limits_.bytes_total) {
    StatusSubscription* furthest = nullptr;
    size_t most = 0;
    for (const auto& sub : subs_) {
      if (size_t queued = sub->queued_bytes(); queued > most) {
        most = queued;
        furthest = sub.get();
      }
    }
    if (furthest == nullptr) {
      break;  // nothing queued: the event alone is over the bound, the per-subscriber check acts
    }
    furthest->Overflow();
  }
  for (const auto& sub : subs_) {
    sub->Push(status, bytes);
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
