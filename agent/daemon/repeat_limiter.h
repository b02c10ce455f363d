#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace probesnat::daemon {

// Decides which of a stream of identical records to let through: the first of a key, then none
// until `window` has passed since it; the ones held back are counted, and once the window is over
// a summary of them is due (when the key comes again, or at the next Due/DueAll). Keeps at most
// `max_keys` keys (beyond them every record passes). Thread-safe; `now` is the clock.
template <typename Payload>
class RepeatLimiter {
 public:
  struct Summary {
    Payload first;           // the record that was let through
    int64_t suppressed = 0;  // identical records held back after it
    absl::Duration window;
  };
  struct Decision {
    bool pass = true;
    std::vector<Summary> summaries;  // due now, to be written before the record
  };

  RepeatLimiter(absl::Duration window, std::function<absl::Time()> now, size_t max_keys = 1024)
      : window_(window), now_(std::move(now)), max_keys_(max_keys) {}

  Decision Admit(const std::string& key, const Payload& payload) {
    absl::MutexLock lock(&mu_);
    const absl::Time now = now_();
    Decision d;
    d.summaries = ExpireLocked(now, /*all=*/false);
    if (window_ <= absl::ZeroDuration()) {
      return d;
    }
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      ++it->second.suppressed;
      d.pass = false;
      return d;
    }
    if (entries_.size() < max_keys_) {
      entries_.emplace(key, Entry{payload, now, 0});
    }
    return d;
  }

  // Summaries of the windows that are over (every window with `all`, e.g. at exit); their keys
  // are forgotten, so the next such record passes again.
  std::vector<Summary> Due() {
    absl::MutexLock lock(&mu_);
    return ExpireLocked(now_(), /*all=*/false);
  }
  std::vector<Summary> DueAll() {
    absl::MutexLock lock(&mu_);
    return ExpireLocked(now_(), /*all=*/true);
  }

 private:
  struct Entry {
    Payload first;
    absl::Time since;
    int64_t suppressed = 0;
  };

  std::vector<Summary> ExpireLocked(absl::Time now, bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Summary> out;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (!all && now - it->second.since < window_) {
        ++it;
        continue;
      }
      if (it->second.suppressed > 0) {
        out.push_back(Summary{std::move(it->second.first), it->second.suppressed, window_});
      }
      it = entries_.erase(it);
    }
    return out;
  }

  const absl::Duration window_;
  const std::function<absl::Time()> now_;
  const size_t max_keys_;
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace probesnat::daemon
