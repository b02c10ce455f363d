#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "probesnat/v1/probesnat.pb.h"

namespace probesnat::daemon {

// One Watch stream's queue of status events. Bounded: a subscriber that falls more than `limit`
// events behind is marked overflowed and receives nothing more (it should watch again with
// initial_state), so a slow client never holds memory or the publisher.
class StatusSubscription {
 public:
  enum class Next { kEvent, kTimeout, kClosed, kOverflowed };

  explicit StatusSubscription(size_t limit) : limit_(limit) {}

  // Waits up to `timeout` for the next event.
  Next Pop(absl::Duration timeout, v1::PodStatus* out);

 private:
  friend class StatusEventHub;
  void Push(const v1::PodStatus& status);            // publisher side
  void Preload(std::vector<v1::PodStatus> initial);  // not counted against the limit
  void Close();

  const size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::PodStatus> queue_;
  bool closed_ = false;
  bool overflowed_ = false;
};

// Fans status events out to every Watch stream.
class StatusEventHub {
 public:
  explicit StatusEventHub(size_t per_subscriber_limit = 1024) : limit_(per_subscriber_limit) {}

  // `initial` is delivered first (Watch initial_state). The caller makes subscription and any
  // snapshot it passes atomic with respect to Publish.
  std::shared_ptr<StatusSubscription> Subscribe(std::vector<v1::PodStatus> initial);
  void Unsubscribe(const std::shared_ptr<StatusSubscription>& sub);
  void Publish(const v1::PodStatus& status);
  // Ends every stream (shutdown); later subscriptions start closed.
  void Close();
  size_t subscriber_count() const;

 private:
  const size_t limit_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<StatusSubscription>> subs_;
  bool closed_ = false;
};

}  // namespace probesnat::daemon
