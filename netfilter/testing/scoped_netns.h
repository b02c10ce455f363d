#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace probesnat::netfilter::testing {

// A named network namespace (/run/netns/NAME) that exists for the lifetime of this object and is
// removed by the destructor, also when a test fails. Names carry a prefix, the pid and a counter so
// that parallel test processes never collide; RemoveStale() clears leftovers of crashed runs.
class ScopedNetns {
 public:
  // Creates a fresh namespace whose loopback is up.
  static absl::StatusOr<ScopedNetns> Create(const std::string& label);
  // Deletes namespaces with our prefix whose creating process is gone.
  static void RemoveStale();

  ScopedNetns(ScopedNetns&& other) noexcept;
  ScopedNetns& operator=(ScopedNetns&& other) noexcept;
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  ~ScopedNetns();

  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }

 private:
  explicit ScopedNetns(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// Runs a shell command line (inherits stdout/stderr); returns its exit status as an error if
// non-zero.
absl::Status Run(const std::string& command_line);
// Runs a shell command line and returns what it printed on stdout.
absl::StatusOr<std::string> RunAndCapture(const std::string& command_line);

}  // namespace probesnat::netfilter::testing
