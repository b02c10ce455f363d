#include "agent/daemon/logging.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/daemon/log_record.h"
#include "spdlog/details/log_msg.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendHexEscape(std::string* out, unsigned char byte, bool json) {
  if (json) {
    absl::StrAppend(out, "\\u00", std::string{kHex[byte >> 4], kHex[byte & 0xf]});
  } else {
    absl::StrAppend(out, "\\x", std::string{kHex[byte >> 4], kHex[byte & 0xf]});
  }
}

// A JSON string literal; bytes from 0x80 up are kept (messages are UTF-8, client text is escaped
// to ASCII before it reaches a message).
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          AppendHexEscape(&out, byte, /*json=*/true);
        } else {
          out.push_back(c);
        }
    }
  }
  out += "\"";
  return out;
}

class OneRecordPerLine final : public spdlog::formatter {
 public:
  explicit OneRecordPerLine(LogFormat format)
      : format_(format),
        text_(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%fZ %l %v",
                                                          spdlog::pattern_time_type::utc)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    if (format_ == LogFormat::kJson) {
      const std::string time =
          absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromChrono(msg.time), absl::UTCTimeZone());
      const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
      const LogRecord* record = CurrentLogRecord();
      const std::string line = absl::StrCat(
          "{\"ts\":\"", time, "\",\"level\":\"", absl::string_view(level.data(), level.size()),
          "\",\"msg\":", JsonString(record != nullptr ? record->msg() : payload),
          record != nullptr ? record->JsonFields() : "", "}\n");
      dest.append(line.data(), line.data() + line.size());
      return;
    }
    const std::string escaped = OneLine(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    text_->format(copy, dest);
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<OneRecordPerLine>(format_);
  }

 private:
  const LogFormat format_;
  std::unique_ptr<spdlog::pattern_formatter> text_;
};

}  // namespace

std::string OneLine(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      AppendHexEscape(&out, byte, /*json=*/false);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format) {
  return std::make_unique<OneRecordPerLine>(format);
}

void ConfigureLogging(spdlog::level::level_enum level, LogFormat format) {
  auto logger = spdlog::stderr_logger_mt("probesnatd");
  logger->set_formatter(MakeLogFormatter(format));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace probesnat::daemon
