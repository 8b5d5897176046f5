#include "relay/service/refusal_log.hpp"

#include <spdlog/spdlog.h>

namespace relay::service {

void RefusalLog::refused(const std::string& reason, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  ++unlogged_;
  latest_reason_ = reason;
  if (!logged_any_ || now - last_logged_ >= kInterval) {
    log_locked(unlogged_, latest_reason_);
    last_logged_ = now;
    logged_any_ = true;
  }
}

void RefusalLog::flush() {
  std::lock_guard lock(mutex_);
  if (unlogged_ > 0) {
    log_locked(unlogged_, latest_reason_);
  }
}

void RefusalLog::log_locked(std::uint64_t count, const std::string& reason) {
  if (count == 1) {
    spdlog::info("{}: refused: {}", owner_, reason);
  } else {
    spdlog::info("{}: refused {} times since the last report, latest: {}", owner_, count, reason);
  }
  unlogged_ = 0;
}

}  // namespace relay::service
