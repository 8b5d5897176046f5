#include "relay/hub/adaptive_linger.hpp"

#include <sched.h>
#include <time.h>

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
      window_end_((now + options.window).time_since_epoch().count()),
      window_cpu_ns_(options_.cpu_time ? options_.cpu_time().count() : 0) {}

void AdaptiveLinger::write_completed(Clock::duration took, Clock::time_point now) {
  const std::int64_t took_us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  std::int64_t fastest = fastest_us_.load(std::memory_order_relaxed);
  while (took_us < fastest &&
         !fastest_us_.compare_exchange_weak(fastest, took_us, std::memory_order_relaxed)) {
  }
  end_window_if_due(now);
}

void AdaptiveLinger::end_window_if_due(Clock::time_point now) {
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
  const Clock::duration window_length =
      now - (Clock::time_point(Clock::duration(end)) - options_.window);
  double cpu_share = 0;
  if (options_.cpu_time) {
    const std::int64_t cpu_now = options_.cpu_time().count();
    const std::int64_t used = cpu_now - window_cpu_ns_.exchange(cpu_now, std::memory_order_relaxed);
    const auto length_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(window_length).count();
    if (length_ns > 0) {
      cpu_share =
          static_cast<double>(used) / (static_cast<double>(length_ns) * std::max(1, options_.cpus));
    }
  }
  const bool saturated =
      (window_fastest != kNoWrite && window_fastest >= options_.saturated_write.count()) ||
      (options_.cpu_time && cpu_share >= options_.saturated_cpu_share);
  const bool idle = options_.cpu_time && cpu_share < options_.saturated_cpu_share / 2;
  const std::int64_t base = options_.base.count();
  const std::int64_t max = std::max(base, options_.max.count());
  const std::int64_t step = std::max(base, options_.first_step.count());
  const std::int64_t current = current_us_.load(std::memory_order_relaxed);
  const std::int64_t fallen = idle ? current / 2 : current - current / 8;
  std::int64_t next = base;
  // A window that ended a whole window ago saw writes stop for a while,
  // which a saturated relay does not do: it starts again from the base.
  const bool stale = now_rep - end >= options_.window.count();
  if (!stale && saturated) {
    next = std::min(max, current > 0 ? std::max(current * 2, step) : step);
  } else if (!stale && fallen >= step) {
    next = fallen;
  }
  current_us_.store(next, std::memory_order_relaxed);
}

std::chrono::nanoseconds process_cpu_time() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return 1;
  }
  return std::max(1, CPU_COUNT(&set));
}

}  // namespace relay::hub
