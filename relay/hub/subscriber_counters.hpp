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
};

// What the streams of a hub wrote, counted as it happens and added up at
// scrape time. Not one set per stream: an idle stream is most of what a chat
// relay holds, and 152 bytes of counters each were 0.7 % of its memory
// (bench/PROFILE.md, fourteenth session). Each thread counts in a shard of
// its own (of kShards, by the order threads first count), so writes
// completing on different cores share no cache line; threads beyond
// kShards share one, hence a locked add. Relaxed: a scrape needs no order.
class SubscriberCounters {
 public:
  void wrote(std::size_t frames, std::size_t bytes);
  void write_took(std::chrono::steady_clock::duration took);
  void slow_consumer();

  SubscriberTotals read() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> writes{0};
    std::atomic<std::uint64_t> frames_written{0};
    std::atomic<std::uint64_t> bytes_written{0};
    std::atomic<std::uint64_t> slow_consumer_closes{0};
    std::array<std::atomic<std::uint64_t>, kWriteLatencyBoundsUs.size() + 1>
        write_latency_buckets{};
    std::atomic<std::uint64_t> write_latency_sum_us{0};
  };
  Shard& shard();

  std::array<Shard, kShards> shards_;
};

}  // namespace relay::hub
