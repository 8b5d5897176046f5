#include "relay/hub/adaptive_linger.hpp"

#include <algorithm>
#include <limits>

namespace relay::hub {
namespace {
constexpr std::int64_t kNoWrite = std::numeric_limits<std::int64_t>::max();
}  // namespace

AdaptiveLinger::AdaptiveLinger(Options options, Clock::time_point now)
    : options_(options),
      current_us_(options.base.count()),
      fastest_us_(kNoWrite),
      window_end_((now + options.window).time_since_epoch().count()) {}

void AdaptiveLinger::write_completed(Clock::duration took, Clock::time_point now) {
  const std::int64_t took_us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  std::int64_t fastest = fastest_us_.load(std::memory_order_relaxed);
  while (took_us < fastest &&
         !fastest_us_.compare_exchange_weak(fastest, took_us, std::memory_order_relaxed)) {
  }
  Clock::rep end = window_end_.load(std::memory_order_relaxed);
  const Clock::rep now_rep = now.time_since_epoch().count();
  if (now_rep < end) {
    return;
  }
  // One caller closes the window; the others' writes count in the next.
  if (!window_end_.compare_exchange_strong(end, (now + options_.window).time_since_epoch().count(),
                                           std::memory_order_relaxed)) {
    return;
  }
  const std::int64_t window_fastest = fastest_us_.exchange(kNoWrite, std::memory_order_relaxed);
  const std::int64_t base = options_.base.count();
  const std::int64_t current = current_us_.load(std::memory_order_relaxed);
  std::int64_t next = base;
  // A window that ended a whole window ago saw writes stop for a while,
  // which a saturated relay does not do: it starts again from the base.
  const bool stale = now_rep - end >= options_.window.count();
  if (!stale && window_fastest >= options_.saturated_write.count()) {
    next = std::min(options_.max.count(), std::max(current * 2, base));
  } else if (!stale) {
    next = std::max(base, current - current / 8);
  }
  current_us_.store(next, std::memory_order_relaxed);
}

}  // namespace relay::hub
