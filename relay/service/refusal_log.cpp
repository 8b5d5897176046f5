#include "relay/service/refusal_log.hpp"

#include <spdlog/spdlog.h>

namespace relay::service {
namespace {

constexpr const char* kCodeNames[] = {
    "ok",        "cancelled",      "unknown",           "invalid_argument",   "deadline_exceeded",
    "not_found", "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
    "aborted",   "out_of_range",   "unimplemented",     "internal",           "unavailable",
    "data_loss", "unauthenticated"};

}  // namespace

void RefusalCounts::count(grpc::StatusCode code) {
  const auto index = static_cast<std::size_t>(code);
  if (index < kCodes) {
    counts_[index].fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<std::pair<std::string, std::uint64_t>> RefusalCounts::read() const {
  static_assert(std::size(kCodeNames) == kCodes);
  std::vector<std::pair<std::string, std::uint64_t>> counts;
  for (std::size_t i = 1; i < kCodes; ++i) {
    counts.emplace_back(kCodeNames[i], counts_[i].load(std::memory_order_relaxed));
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
