#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/daemon/pod_journal.h"

namespace probesnat::daemon::testing {

// An in-memory PodJournal: what a state file would hold, every call in order, failure injection,
// and a hook that runs at each call (to see what the kernel held at that moment).
class FakeJournal : public PodJournal {
 public:
  absl::Status Put(const JournaledPod& pod) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (on_call) {
      on_call("put " + pod.spec.uid);
    }
    calls_.push_back((pod.removing ? "put-removing " : "put ") + pod.spec.uid);
    if (!fail_next_.ok()) {
      return std::exchange(fail_next_, absl::OkStatus());
    }
    pods_[pod.spec.uid] = pod;
    return absl::OkStatus();
  }
  absl::Status Erase(const std::string& uid) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (on_call) {
      on_call("erase " + uid);
    }
    calls_.push_back("erase " + uid);
    if (!fail_next_.ok()) {
      return std::exchange(fail_next_, absl::OkStatus());
    }
    pods_.erase(uid);
    return absl::OkStatus();
  }

  // Forgets every pod (a lost or damaged state file).
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    pods_.clear();
  }
  void FailNext(const absl::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = status;
  }
  std::map<std::string, JournaledPod> pods() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pods_;
  }
  std::vector<JournaledPod> PodList() const {
    std::vector<JournaledPod> out;
    for (const auto& [uid, pod] : pods()) {
      out.push_back(pod);
    }
    return out;
  }
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  // Runs under the journal's lock with "put UID" / "erase UID".
  std::function<void(const std::string& call)> on_call;

 private:
  mutable std::mutex mu_;
  std::map<std::string, JournaledPod> pods_;
  std::vector<std::string> calls_;
  absl::Status fail_next_;
};

}  // namespace probesnat::daemon::testing
