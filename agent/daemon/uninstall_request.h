#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace probesnat::daemon {

// An explicit uninstall: `probesnatctl uninstall` records the request as a file in the agent's run
// directory, and the agent reads it when SIGTERM/SIGINT stops it. Present: the agent removes every
// pod table and the host table, deletes its state file, writes the uninstalled record and removes
// the request. Absent: a restart or an upgrade, everything stays. install-cni's stop path reads
// the same two files to decide whether to remove the CNI conflist entry (deploy/install-cni.sh).
inline constexpr char kUninstallRequestName[] = "uninstall-requested";
// Written by the agent once an uninstall is complete, before the request is removed, so that at
// every moment one of the two files says "uninstall" to install-cni.
inline constexpr char kUninstalledRecordName[] = "uninstalled";
// How much of either file is read (the text is only shown in logs).
inline constexpr size_t kUninstallFileMaxBytes = 4096;

std::string UninstallRequestPath(const std::string& run_dir);
std::string UninstalledRecordPath(const std::string& run_dir);

struct RecordedUninstallRequest {
  bool already_present = false;  // an earlier request was there; nothing was written
  std::string text;              // what the request file holds now
};

// Creates <run_dir>/uninstall-requested holding `text`, atomically: a temporary file in run_dir,
// fsync, link() to the final name (which never replaces an existing request), fsync of run_dir.
// FAILED_PRECONDITION when run_dir is not a directory; the error names the path and errno.
absl::StatusOr<RecordedUninstallRequest> RecordUninstallRequest(const std::string& run_dir,
                                                                const std::string& text);

// The text of the file at `path` (at most kUninstallFileMaxBytes) when it is a regular file;
// nullopt when nothing is there. Anything else at the path (a directory, a symlink) is an error.
absl::StatusOr<std::optional<std::string>> ReadUninstallFile(const std::string& path);

// Replaces `path` with a file holding `text` (temporary file, fsync, rename, fsync of the
// directory).
absl::Status WriteFileAtomically(const std::string& path, const std::string& text);

// unlink(path); a missing file is fine.
absl::Status RemoveFileIfPresent(const std::string& path);

}  // namespace probesnat::daemon
