#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

namespace probesnat::netfilter::testing {

// A forked child that a test keeps running (a process in a pod namespace, under another uid) and
// that is killed and reaped when the test ends, also when it fails.
class ScopedChild {
 public:
  explicit ScopedChild(pid_t pid) : pid_(pid) {}
  ~ScopedChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ScopedChild(const ScopedChild&) = delete;
  ScopedChild& operator=(const ScopedChild&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

}  // namespace probesnat::netfilter::testing
