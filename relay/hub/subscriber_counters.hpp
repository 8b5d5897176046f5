#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace relay::hub {

// Upper bounds of the write latency buckets, in microseconds: a write that
// completes at once takes tens of microseconds, one that waits for a slow
// reader's flow control or a saturated relay takes milliseconds to seconds.
inline constexpr std::array<std::uint64_t, 13> kWriteLatencyBoundsUs{
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

// What streams did, as plain numbers that add up across streams.
struct SubscriberTotals {
  std::uint64_t writes = 0;
  std::uint64_t frames_written = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t slow_consumer_closes = 0;
  // Per bucket of kWriteLatencyBoundsUs, the last one for slower writes; not
  // cumulative.
  std::array<std::uint64_t, kWriteLatencyBoundsUs.size() + 1> write_latency_buckets{};
  std::uint64_t write_latency_sum_us = 0;

  void add(const SubscriberTotals& other);
};

// One stream's counters. Every write to them happens under its Subscriber's
// lock, which the delivery path holds anyway, so they cost no lock and no
// cache line shared with other streams; a scrape reads them from another
// thread, hence atomics, and one writer at a time makes a load and a store
// enough (no locked read-modify-write). Relaxed: a scrape needs no order.
class SubscriberCounters {
 public:
  void wrote(std::size_t frames, std::size_t bytes);
  void write_took(std::chrono::steady_clock::duration took);
  void slow_consumer() { bump(slow_consumer_closes_, 1); }

  SubscriberTotals read() const;

 private:
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> frames_written_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::uint64_t> slow_consumer_closes_{0};
  std::array<std::atomic<std::uint64_t>, kWriteLatencyBoundsUs.size() + 1> write_latency_buckets_{};
  std::atomic<std::uint64_t> write_latency_sum_us_{0};
};

}  // namespace relay::hub
