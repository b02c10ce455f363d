#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "netfilter/netns.h"
#include "netfilter/nft_socket.h"

namespace probesnat::netfilter {

// nf_tables sockets in pod namespaces, kept open for a short while after use and closed on a
// background thread.
//
// Why: closing a NETLINK_NETFILTER socket after a transaction makes the kernel flush nf_tables'
// deferred destruction of that transaction (an RCU grace period, 5-25 ms) while holding that
// namespace's nf_tables mutex. Closing in the background keeps that wait off the caller's path;
// reusing the socket for the next operation on the same namespace keeps the next transaction from
// queueing behind it. An idle socket holds a reference on its namespace, so it is kept only
// `idle_ttl`.
class NftSocketPool {
 public:
  struct Lease {
    NftSocket socket;
    NetnsId netns_id;
  };

  explicit NftSocketPool(std::chrono::milliseconds idle_ttl = std::chrono::milliseconds(1000),
                         size_t max_idle = 64);
  NftSocketPool(const NftSocketPool&) = delete;
  NftSocketPool& operator=(const NftSocketPool&) = delete;
  ~NftSocketPool();

  // A socket in the namespace `netns` (opened with OpenNetnsHandle).
  absl::StatusOr<Lease> Acquire(const NetnsHandle& netns);
  // Keeps the socket for reuse (after a successful operation).
  void Return(Lease lease);
  // Closes the socket in the background (after a failure: it may hold unread answers).
  void Discard(Lease lease);

 private:
  struct Idle {
    NetnsId netns_id;
    std::chrono::steady_clock::time_point since;
    NftSocket socket;
  };

  void Loop();
  void StartWorkerLocked();

  const std::chrono::milliseconds idle_ttl_;
  const size_t max_idle_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Idle> idle_;  // oldest first
  std::vector<UniqueFd> to_close_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace probesnat::netfilter
