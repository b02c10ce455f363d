#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace probesnat::daemon {

// Refuses `dir` unless only this user (or root) can change what it holds: `dir` must be a directory
// owned by the effective uid with no group/other write bit, and every ancestor must be owned by
// root or the effective uid and either not writable by group/others or sticky (like /tmp). The
// error names the directory, its mode and its owner.
absl::Status CheckPrivateDirectory(const std::string& dir);

// The run directory (the unix socket's directory) and the exclusive lock on
// <dir>/probesnatd.lock that makes one agent its owner. The lock is taken before the agent touches
// the socket or the kernel and released when the process ends (the file stays; unlinking it would
// let two agents lock two different files).
class RunDirectoryLock {
 public:
  // Creates missing directories of `socket_path` (mode 0700), refuses a directory others can write
  // (CheckPrivateDirectory), then takes flock(LOCK_EX|LOCK_NB) on the lock file and writes this
  // process's pid into it. FAILED_PRECONDITION naming the holder's pid when another process holds
  // the lock.
  static absl::StatusOr<std::unique_ptr<RunDirectoryLock>> Acquire(const std::string& socket_path);

  const std::string& path() const { return path_; }

 private:
  RunDirectoryLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::string path_;
};

// The directory part of `path` ("/run/probesnat" for "/run/probesnat/probesnat.sock").
std::string ParentDirectory(const std::string& path);

// Creates the missing directories of `dir` with mode 0700.
absl::Status MakeDirectories(const std::string& dir);

}  // namespace probesnat::daemon
