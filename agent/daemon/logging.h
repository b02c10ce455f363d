#pragma once

#include "spdlog/common.h"

namespace probesnat::daemon {

enum class LogFormat { kText, kJson };

// spdlog to stderr, one line per event, UTC timestamps.
void ConfigureLogging(spdlog::level::level_enum level);

}  // namespace probesnat::daemon
