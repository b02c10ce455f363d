#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "agent/daemon/log_record.h"
#include "agent/daemon/logging.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon::testing {

// Every record the default logger writes while this lives, formatted as ConfigureLogging's
// logger formats it (one string per record); the previous default logger is restored after.
// The repeat limit starts afresh (nothing held back from before), on the real clock.
class LogCapture {
 public:
  explicit LogCapture(LogFormat format = LogFormat::kText)
      : previous_(spdlog::default_logger()), sink_(std::make_shared<Sink>()) {
    sink_->set_formatter(MakeLogFormatter(format));
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    SetRepeatLimit(kRepeatWindow, [] { return absl::Now(); });
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<std::string> records() const {
    std::lock_guard<std::mutex> lock(sink_->records_mu);
    return sink_->records;
  }

 private:
  class Sink : public spdlog::sinks::base_sink<std::mutex> {
   public:
    mutable std::mutex records_mu;
    std::vector<std::string> records;

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      spdlog::memory_buf_t buf;
      formatter_->format(msg, buf);
      std::lock_guard<std::mutex> lock(records_mu);
      records.emplace_back(buf.data(), buf.size());
    }
    void flush_() override {}
  };

  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<Sink> sink_;
};

}  // namespace probesnat::daemon::testing
