#include "netfilter/nft_socket_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "netfilter/netns.h"

namespace probesnat::netfilter {

NftSocketPool::NftSocketPool(std::chrono::milliseconds idle_ttl, size_t max_idle)
    : idle_ttl_(idle_ttl), max_idle_(max_idle) {}

NftSocketPool::~NftSocketPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) {
    worker_.join();
  }
}

absl::StatusOr<NftSocketPool::Lease> NftSocketPool::Acquire(const NetnsHandle& netns) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Newest first: the most recently used socket is the least likely to be evicted meanwhile.
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if (it->netns_id == netns.id) {
        Lease lease{std::move(it->socket), netns.id};
        idle_.erase(std::next(it).base());
        return lease;
      }
    }
  }
  absl::StatusOr<NftSocket> socket =
      NftSocket::OpenIn(netns.get(), absl::StrCat("network namespace ", netns.path));
  if (!socket.ok()) {
    return socket.status();
  }
  return Lease{*std::move(socket), netns.id};
}

void NftSocketPool::StartWorkerLocked() {
  if (!worker_.joinable()) {
    worker_ = std::thread([this] { Loop(); });
  }
}

void NftSocketPool::Return(Lease lease) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(
        Idle{lease.netns_id, std::chrono::steady_clock::now(), std::move(lease.socket)});
    while (idle_.size() > max_idle_) {
      to_close_.push_back(std::move(idle_.front().socket).ReleaseFd());
      idle_.pop_front();
    }
    StartWorkerLocked();
  }
  cv_.notify_one();
}

void NftSocketPool::Discard(Lease lease) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    to_close_.push_back(std::move(lease.socket).ReleaseFd());
    StartWorkerLocked();
  }
  cv_.notify_one();
}

void NftSocketPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto now = std::chrono::steady_clock::now();
    while (!idle_.empty() && (stopping_ || now - idle_.front().since >= idle_ttl_)) {
      to_close_.push_back(std::move(idle_.front().socket).ReleaseFd());
      idle_.pop_front();
    }
    if (!to_close_.empty()) {
      std::vector<UniqueFd> closing = std::move(to_close_);
      to_close_.clear();
      lock.unlock();
      closing.clear();  // may block for a grace period each
      lock.lock();
      continue;
    }
    if (stopping_) {
      return;
    }
    if (idle_.empty()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, idle_.front().since + idle_ttl_);
    }
  }
}

}  // namespace probesnat::netfilter
