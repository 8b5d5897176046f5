#include "relay/hub/subscriber_counters.hpp"

#include <algorithm>

namespace relay::hub {

void SubscriberTotals::add(const SubscriberTotals& other) {
  writes += other.writes;
  frames_written += other.frames_written;
  bytes_written += other.bytes_written;
  slow_consumer_closes += other.slow_consumer_closes;
  for (std::size_t i = 0; i < write_latency_buckets.size(); ++i) {
    write_latency_buckets[i] += other.write_latency_buckets[i];
  }
  write_latency_sum_us += other.write_latency_sum_us;
}

void SubscriberCounters::wrote(std::size_t frames, std::size_t bytes) {
  bump(writes_, 1);
  bump(frames_written_, frames);
  bump(bytes_written_, bytes);
}

void SubscriberCounters::write_took(std::chrono::steady_clock::duration took) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kWriteLatencyBoundsUs.begin(), kWriteLatencyBoundsUs.end(), us) -
      kWriteLatencyBoundsUs.begin());
  bump(write_latency_buckets_[bucket], 1);
  bump(write_latency_sum_us_, us);
}

SubscriberTotals SubscriberCounters::read() const {
  SubscriberTotals totals;
  totals.writes = writes_.load(std::memory_order_relaxed);
  totals.frames_written = frames_written_.load(std::memory_order_relaxed);
  totals.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  totals.slow_consumer_closes = slow_consumer_closes_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < write_latency_buckets_.size(); ++i) {
    totals.write_latency_buckets[i] = write_latency_buckets_[i].load(std::memory_order_relaxed);
  }
  totals.write_latency_sum_us = write_latency_sum_us_.load(std::memory_order_relaxed);
  return totals;
}

}  // namespace relay::hub
