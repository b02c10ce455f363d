#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "agent/domain/pod_state.h"

namespace probesnat::daemon {

// How far Watch streams may fall behind. Sizes are what the queued events hold in memory.
struct StatusEventLimits {
  size_t events_per_subscriber = 1024;
  size_t bytes_per_subscriber = 4 << 20;
  size_t bytes_total = 32 << 20;  // across every subscriber
};

// The memory one queued event holds (strings and containers included), for the limits.
size_t EventBytes(const agent::PodState& state);

// One Watch stream's queue of status events. Bounded: a subscriber that falls more than its
// limits (events or bytes) behind is marked overflowed and receives nothing more (it should watch
// again with initial_state), so a slow client never holds memory or the publisher.
class StatusSubscription {
 public:
  enum class Next { kEvent, kTimeout, kClosed, kOverflowed };

  StatusSubscription(const StatusEventLimits& limits, std::shared_ptr<std::atomic<size_t>> total)
      : limits_(limits), total_(std::move(total)) {}
  ~StatusSubscription();

  // Waits up to `timeout` for the next event.
  Next Pop(absl::Duration timeout, agent::PodState* out);

 private:
  friend class StatusEventHub;
  struct Entry {
    agent::PodState status;
    size_t bytes;  // counted against the limits; 0 for the initial state
  };
  void Push(const agent::PodState& status, size_t bytes);  // publisher side
  void Preload(std::vector<agent::PodState> initial);      // not counted against the limits
  void Close();
  // Drops what is queued and delivers nothing more but kOverflowed.
  void Overflow();
  // Drops what is queued (the stream has ended).
  void Discard();
  size_t queued_bytes();
  void ClearLocked();

  const StatusEventLimits limits_;
  const std::shared_ptr<std::atomic<size_t>> total_;  // queued bytes of every subscriber
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  size_t bytes_ = 0;
  bool closed_ = false;
  bool overflowed_ = false;
};

// Fans status events out to every Watch stream.
class StatusEventHub {
 public:
  StatusEventHub() : StatusEventHub(StatusEventLimits{}) {}
  explicit StatusEventHub(const StatusEventLimits& limits) : limits_(limits) {}
  explicit StatusEventHub(size_t events_per_subscriber)
      : StatusEventHub(StatusEventLimits{.events_per_subscriber = events_per_subscriber}) {}

  // `initial` is delivered first (Watch initial_state). The caller makes subscription and any
  // snapshot it passes atomic with respect to Publish.
  std::shared_ptr<StatusSubscription> Subscribe(std::vector<agent::PodState> initial);
  void Unsubscribe(const std::shared_ptr<StatusSubscription>& sub);
  // When the event would take the queued bytes of all subscribers over bytes_total, the subscribers
  // furthest behind (most bytes queued) overflow first.
  void Publish(const agent::PodState& status);
  // Ends every stream (shutdown); later subscriptions start closed.
  void Close();
  size_t subscriber_count() const;
  // Bytes queued for every subscriber together.
  size_t queued_bytes() const { return total_->load(); }

 private:
  const StatusEventLimits limits_;
  const std::shared_ptr<std::atomic<size_t>> total_ = std::make_shared<std::atomic<size_t>>(0);
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<StatusSubscription>> subs_;
  bool closed_ = false;
};

}  // namespace probesnat::daemon
