#include "relay/service/refusal_log.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "common/status_names.hpp"

namespace relay::service {

void RefusalCounts::count(grpc::StatusCode code) {
  const auto index = static_cast<std::size_t>(code);
  if (index < kCodes) {
    counts_[index].fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<std::pair<std::string, std::uint64_t>> RefusalCounts::read() const {
  std::vector<std::pair<std::string, std::uint64_t>> counts;
  for (std::size_t i = 1; i < kCodes; ++i) {
    // Prometheus labels are lower case by custom: "resource_exhausted".
    std::string label(common::status_code_name(static_cast<int>(i)).value_or("unknown"));
    std::transform(label.begin(), label.end(), label.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    counts.emplace_back(std::move(label), counts_[i].load(std::memory_order_relaxed));
  }
  return counts;
}

void RefusalLog::refused(grpc::StatusCode code, const std::string& reason, Clock::time_point now) {
  counts_.count(code);
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
