#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace probesnat::netfilter::testing {

// A cgroup v2 directory a test creates under the hierarchy's root and always removes (also when
// the test fails): its processes are killed (cgroup.kill) and the directory removed, children
// first. Named probesnat-test-<pid>-<label>; RemoveStale() removes those of dead test processes.
class ScopedCgroup {
 public:
  // `relative` below the root, e.g. "probesnat-test-1-node/kubelet.service"; intermediate
  // directories are created (and removed) too.
  static absl::StatusOr<ScopedCgroup> Create(const std::string& label, const std::string& below);
  static void RemoveStale();

  ScopedCgroup(ScopedCgroup&& other) noexcept;
  ScopedCgroup& operator=(ScopedCgroup&&) = delete;
  ~ScopedCgroup();

  const std::string& root() const { return root_; }  // the hierarchy's mount point
  // Below the root, as --kubelet-cgroup takes it: "probesnat-test-<pid>-<label>/<below>".
  const std::string& path() const { return path_; }
  std::string directory() const { return root_ + "/" + path_; }
  // Moves a process into the cgroup.
  absl::Status Enter(pid_t pid) const;
  // Kills its processes and removes the directories (then Create makes a new cgroup, new id).
  absl::Status Remove();
  // Removes and makes it again under the same path: a cgroup with a new id.
  absl::Status Recreate();

 private:
  ScopedCgroup(std::string root, std::string top, std::string path)
      : root_(std::move(root)), top_(std::move(top)), path_(std::move(path)) {}
  absl::Status MakeDirectories() const;

  std::string root_;
  std::string top_;   // probesnat-test-<pid>-<label>
  std::string path_;  // top_/below
};

}  // namespace probesnat::netfilter::testing
