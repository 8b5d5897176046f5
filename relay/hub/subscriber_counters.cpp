#include "relay/hub/subscriber_counters.hpp"

#include <algorithm>

namespace relay::hub {

namespace {

void add(std::atomic<std::uint64_t>& counter, std::uint64_t by) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

}  // namespace

SubscriberCounters::Shard& SubscriberCounters::shard() {
  static std::atomic<std::size_t> threads_counting{0};
  thread_local const std::size_t index =
      threads_counting.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shards_[index];
}

void SubscriberCounters::wrote(std::size_t frames, std::size_t bytes) {
  Shard& counts = shard();
  add(counts.writes, 1);
  add(counts.frames_written, frames);
  add(counts.bytes_written, bytes);
}

void SubscriberCounters::write_took(std::chrono::steady_clock::duration took) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kWriteLatencyBoundsUs.begin(), kWriteLatencyBoundsUs.end(), us) -
      kWriteLatencyBoundsUs.begin());
  Shard& counts = shard();
  add(counts.write_latency_buckets[bucket], 1);
  add(counts.write_latency_sum_us, us);
}

void SubscriberCounters::slow_consumer() { add(shard().slow_consumer_closes, 1); }

SubscriberTotals SubscriberCounters::read() const {
  SubscriberTotals totals;
  for (const Shard& counts : shards_) {
    totals.writes += counts.writes.load(std::memory_order_relaxed);
    totals.frames_written += counts.frames_written.load(std::memory_order_relaxed);
    totals.bytes_written += counts.bytes_written.load(std::memory_order_relaxed);
    totals.slow_consumer_closes += counts.slow_consumer_closes.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < counts.write_latency_buckets.size(); ++i) {
      totals.write_latency_buckets[i] +=
          counts.write_latency_buckets[i].load(std::memory_order_relaxed);
    }
    totals.write_latency_sum_us += counts.write_latency_sum_us.load(std::memory_order_relaxed);
  }
  return totals;
}

}  // namespace relay::hub
