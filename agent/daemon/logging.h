#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "spdlog/common.h"
#include "spdlog/formatter.h"

namespace probesnat::daemon {

enum class LogFormat { kText, kJson };

// spdlog to stderr, one line per record whatever its message holds, UTC timestamps.
void ConfigureLogging(spdlog::level::level_enum level, LogFormat format = LogFormat::kText);

// The formatter ConfigureLogging installs. Text: `<time> <level> <message>` with the message's
// line breaks and other control bytes escaped (`\n`, `\r`, `\t`, `\xNN`), so a record that quotes
// multi-line text (a refusal listing findings, a fix's YAML) stays one line. JSON: one object
// `{"ts":...,"level":...,"msg":...}` per line, with a LogRecord's fields as keys of their own
// (log_record.h).
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format);

// `text` with its control bytes escaped as in the text format (nothing else changes).
std::string OneLine(absl::string_view text);

}  // namespace probesnat::daemon
