#include "agent/daemon/logging.h"

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

void ConfigureLogging(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_logger_mt("probesnatd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace probesnat::daemon
