#include "agent/daemon/log_record.h"

#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/repeat_limiter.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

thread_local const LogRecord* current_record = nullptr;

struct Held {
  spdlog::level::level_enum level;
  LogRecord record;
};

using Limiter = RepeatLimiter<Held>;

absl::Mutex limiter_mu;
std::shared_ptr<Limiter>& LimiterSlot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(limiter_mu) {
  static auto* slot = new std::shared_ptr<Limiter>(
      std::make_shared<Limiter>(kRepeatWindow, [] { return absl::Now(); }));
  return *slot;
}
std::shared_ptr<Limiter> CurrentLimiter() {
  absl::MutexLock lock(&limiter_mu);
  return LimiterSlot();
}

// A JSON string of text that is ASCII already (escaped client text, our own words).
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

void Write(spdlog::level::level_enum level, const LogRecord& record) {
  const LogRecord* previous = current_record;
  current_record = &record;
  spdlog::log(level, "{}", record.ToText());
  current_record = previous;
}

void WriteSummaries(std::vector<Limiter::Summary> summaries) {
  for (Limiter::Summary& s : summaries) {
    Write(s.first.level, s.first.record.SuppressedSummary(s.suppressed, s.window));
  }
}

}  // namespace

LogRecord& LogRecord::LatencyUs(int64_t micros) {
  fields_.push_back({"latency_us", absl::StrCat(micros), Kind::kLatency});
  return *this;
}

LogRecord& LogRecord::Error(absl::string_view message) {
  return Text("error", message, kLoggedMessageLimit);
}

LogRecord& LogRecord::Text(absl::string_view key, absl::string_view value, size_t limit) {
  fields_.push_back({std::string(key), EscapeClientText(value, limit), Kind::kQuoted});
  return *this;
}

LogRecord& LogRecord::Word(absl::string_view key, absl::string_view word) {
  fields_.push_back({std::string(key), std::string(word), Kind::kWord});
  return *this;
}

LogRecord& LogRecord::Number(absl::string_view key, int64_t n) {
  fields_.push_back({std::string(key), absl::StrCat(n), Kind::kNumber});
  return *this;
}

std::string LogRecord::ToText() const {
  std::string out = msg_;
  for (const Field& f : fields_) {
    switch (f.kind) {
      case Kind::kQuoted:
        absl::StrAppend(&out, " ", f.key, "=\"", f.value, "\"");
        break;
      case Kind::kLatency:
        absl::StrAppend(&out, " latency=", f.value, "us");
        break;
      case Kind::kWord:
      case Kind::kNumber:
        absl::StrAppend(&out, " ", f.key, "=", f.value);
        break;
    }
  }
  return out;
}

std::string LogRecord::JsonFields() const {
  std::string out;
  for (const Field& f : fields_) {
    const bool number = f.kind == Kind::kNumber || f.kind == Kind::kLatency;
    absl::StrAppend(&out, ",", JsonString(f.key), ":", number ? f.value : JsonString(f.value));
  }
  return out;
}

std::string LogRecord::RepeatKey(spdlog::level::level_enum level) const {
  std::string key = absl::StrCat(static_cast<int>(level), "\x1f", msg_);
  for (const Field& f : fields_) {
    if (f.kind != Kind::kLatency) {
      absl::StrAppend(&key, "\x1f", f.key, "=", f.value);
    }
  }
  return key;
}

LogRecord LogRecord::SuppressedSummary(int64_t suppressed, absl::Duration window) const {
  LogRecord summary(absl::StrCat("suppressed ", suppressed, " identical within ",
                                 absl::FormatDuration(window), ": ", msg_));
  for (const Field& f : fields_) {
    if (f.kind != Kind::kLatency) {
      summary.fields_.push_back(f);
    }
  }
  summary.Number("suppressed", suppressed);
  return summary;
}

void Log(spdlog::level::level_enum level, const LogRecord& record) {
  if (!spdlog::default_logger_raw()->should_log(level)) {
    return;
  }
  std::shared_ptr<Limiter> limiter = CurrentLimiter();
  if (level < spdlog::level::warn) {
    WriteSummaries(limiter->Due());
    Write(level, record);
    return;
  }
  Limiter::Decision d = limiter->Admit(record.RepeatKey(level), Held{level, record});
  WriteSummaries(std::move(d.summaries));
  if (d.pass) {
    Write(level, record);
  }
}

void FlushRepeatSummaries(bool all) {
  std::shared_ptr<Limiter> limiter = CurrentLimiter();
  WriteSummaries(all ? limiter->DueAll() : limiter->Due());
}

void SetRepeatLimit(absl::Duration window, std::function<absl::Time()> now) {
  absl::MutexLock lock(&limiter_mu);
  LimiterSlot() = std::make_shared<Limiter>(window, std::move(now));
}

const LogRecord* CurrentLogRecord() { return current_record; }

}  // namespace probesnat::daemon
