#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "spdlog/common.h"

namespace probesnat::daemon {

// One state change (an enroll, a removal, a repair, a failure) as one log record with stable
// keys. Text: `<msg> <key>=<value> ...` in the order the fields were added, strings quoted and
// escaped like client text (log_format.h), latency as `latency=<n>us`. JSON: {"ts", "level",
// "msg", then each field as its own key: uid, pod, netns, latency_us (a number), error, and the
// record's others (ips, result, findings, reason, ...)}. Never per packet.
class LogRecord {
 public:
  explicit LogRecord(std::string msg) : msg_(std::move(msg)) {}

  LogRecord& Uid(absl::string_view uid) { return Text("uid", uid); }
  LogRecord& Pod(absl::string_view ns_name) { return Text("pod", ns_name); }
  LogRecord& Netns(absl::string_view path) { return Text("netns", path); }
  LogRecord& LatencyUs(int64_t micros);
  LogRecord& Error(absl::string_view message);
  // A string that may come from a client: quoted, escaped, at most `limit` bytes shown.
  LogRecord& Text(absl::string_view key, absl::string_view value, size_t limit = 256);
  // One of our own words (a phase, a code name, true/false): unquoted in text, a string in JSON.
  LogRecord& Word(absl::string_view key, absl::string_view word);
  LogRecord& Number(absl::string_view key, int64_t n);

  const std::string& msg() const { return msg_; }
  std::string ToText() const;
  // `,"key":value` for each field, for the JSON formatter.
  std::string JsonFields() const;
  // What makes two records identical for the repeat limit: level, msg and every field but the
  // latency.
  std::string RepeatKey(spdlog::level::level_enum level) const;
  // This record as the summary of `suppressed` identical ones held back within `window`.
  LogRecord SuppressedSummary(int64_t suppressed, absl::Duration window) const;

 private:
  enum class Kind { kQuoted, kWord, kNumber, kLatency };
  struct Field {
    std::string key;
    std::string value;  // quoted kinds: already escaped
    Kind kind;
  };
  std::string msg_;
  std::vector<Field> fields_;
};

// Writes `record` at `level` to the default logger. Records at warning level and above go through
// the repeat limit: the first of identical records within kRepeatWindow is written, the rest are
// counted and summed up in one record, `suppressed N identical: <msg>` with the first one's
// fields and `suppressed=N`, once the window is over (at the next record, drift check or exit).
void Log(spdlog::level::level_enum level, const LogRecord& record);

inline constexpr absl::Duration kRepeatWindow = absl::Seconds(60);

// Writes the summaries whose window is over (all of them with `all`, at exit).
void FlushRepeatSummaries(bool all = false);

// Replaces the repeat limit's window and clock (tests); a zero window turns the limit off.
void SetRepeatLimit(absl::Duration window, std::function<absl::Time()> now);

// The record being written on this thread, for the formatter (logging.h): spdlog's loggers here
// are synchronous, so a record is formatted on the thread that logs it. Null for plain
// spdlog calls.
const LogRecord* CurrentLogRecord();

}  // namespace probesnat::daemon
