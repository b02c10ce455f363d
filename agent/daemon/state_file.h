#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/daemon/pod_journal.h"
#include "base/unique_fd.h"

namespace probesnat::daemon {

// What a state file held when it was opened.
struct LoadedState {
  std::vector<JournaledPod> pods;  // the latest record of each uid, erased ones dropped; by uid
  bool existed = false;            // something was at the path
  // Every record was read. A torn last record (an append cut short by a crash: that call never
  // returned) and an empty file leave it true and add a warning.
  bool trustworthy = true;
  std::vector<std::string> problems;  // why it is not trustworthy ("record 17 at byte 4096: ...")
  std::vector<std::string> warnings;  // what was dropped although it is trustworthy
  std::string damaged_path;           // where the untrustworthy file was moved, when it was
};

// The agent's durable memory of its pods: an append-only journal of PodJournal calls.
//
// Format: lines "<crc32c of payload, 8 hex digits> <payload length, decimal> <JSON payload>\n".
// The first payload is {"magic":"probesnat-state","version":1}; each further one is
// {"op":"put","pod":{...},"generation":N,"netns":{"dev":D,"ino":I},"removing":B} or
// {"op":"erase","uid":U}. Each call appends one line with one write() and fdatasync()s before it
// returns; once the file is larger than max(64 KiB, 4 × its live records) it is rewritten with only
// the live records (temporary file, fsync, rename, fsync of the directory).
class StateFile : public PodJournal {
 public:
  static constexpr char kMagic[] = "probesnat-state";
  static constexpr int kVersion = 1;
  static constexpr size_t kMaxFileBytes = 64 << 20;   // a larger file is not read
  static constexpr size_t kMaxRecordBytes = 1 << 20;  // the largest valid pod is ~60 KB

  // Reads the file at `path` (missing: no pods) into `*loaded`, then replaces it with a fresh
  // compacted file of the pods it could read and keeps that open for appends. A file that is not
  // trustworthy is first moved aside to `<path>.damaged` (replacing an older one). Fails only when
  // the fresh file cannot be written or the damaged one cannot be moved aside.
  static absl::StatusOr<std::unique_ptr<StateFile>> Open(const std::string& path,
                                                         LoadedState* loaded);

  // Reads the file at `path` and changes nothing.
  static LoadedState Read(const std::string& path);

  // One record, as it is written (with its trailing newline).
  static std::string EncodePut(const JournaledPod& pod);
  static std::string EncodeErase(const std::string& uid);

  absl::Status Put(const JournaledPod& pod) override;
  absl::Status Erase(const std::string& uid) override;

  const std::string& path() const { return path_; }
  // Bytes in the file now, and how many times it has been rewritten since Open (for tests).
  size_t file_bytes() const;
  int compactions() const;

 private:
  StateFile(std::string path, UniqueFd fd, std::map<std::string, std::string> live,
            size_t file_bytes);

  // Each with mu_ held.
  absl::Status Append(const std::string& record);
  absl::Status Compact();
  bool CompactionDue() const;

  const std::string path_;
  mutable std::mutex mu_;  // guards everything below
  UniqueFd fd_;
  // The record of each live uid (a put), and their total size.
  std::map<std::string, std::string> live_;
  size_t live_bytes_ = 0;
  size_t file_bytes_ = 0;
  // A failed append could not be cut off again: the file must be rewritten before the next one.
  bool rewrite_needed_ = false;
  int compactions_ = 0;
};

}  // namespace probesnat::daemon
