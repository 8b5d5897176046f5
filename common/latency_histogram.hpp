#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace relay::common {

// A log-linear latency histogram in the manner of HdrHistogram: every
// power-of-two range [2^k, 2^(k+1)) is cut into 128 equal sub-buckets, so a
// value is known to within 2^-7 (about 0.8 %) of itself whatever its size, in
// a fixed ~26 KiB of counters. Values below 256 are exact.
//
// Not thread-safe, on purpose: a shared histogram would need a lock or atomics
// on every record(), which is what a benchmark measures. Give each thread its
// own histogram and merge() them once the threads have been joined.
class LatencyHistogram {
 public:
  // One hour. A larger value is recorded as this one and counted in
  // saturated(), so a stuck request shows up at the top instead of vanishing.
  static constexpr std::uint64_t kHighestTrackableUs = 3'600'000'000;

  LatencyHistogram();

  // Does not allocate: the counters are all sized by the constructor.
  void record(std::uint64_t value_us);
  // Adds other's samples to this one's, as if they had been recorded here.
  void merge(const LatencyHistogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  // How many recorded values were above kHighestTrackableUs (and clamped to it).
  std::uint64_t saturated() const { return saturated_; }
  // Exact, not bucketed; 0 when empty.
  std::uint64_t min() const { return count_ == 0 ? 0 : min_us_; }
  std::uint64_t max() const { return max_us_; }
  // Exact mean of the (clamped) values; 0 when empty.
  double mean() const;
  // The value at or below which p percent of the samples lie (nearest rank),
  // p in [0, 100] (values outside are clamped). Reported as the upper bound of
  // the bucket holding that sample, capped at max(), so it is never below the
  // exact value and above it by at most 2^-7 of it. p = 0 gives min(), p = 100
  // gives max(), an empty histogram gives 0.
  std::uint64_t percentile(double p) const;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t saturated_ = 0;
  // Cannot overflow before ~5 billion samples of an hour each.
  std::uint64_t sum_us_ = 0;
  std::uint64_t min_us_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_us_ = 0;
};

}  // namespace relay::common
