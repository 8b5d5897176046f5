#include "common/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>

namespace relay::common {

namespace {

constexpr int kSubBucketBits = 7;
constexpr std::uint64_t kSubBucketCount = std::uint64_t{1} << kSubBucketBits;

// Index layout: values below 128 index themselves; a value whose highest set
// bit is k >= 7 lies in [2^k, 2^(k+1)), whose 128 sub-buckets are each
// 2^(k-7) wide. Keeping the top 8 bits of the value (v >> shift, in
// [128, 256)) and adding 128 per doubling makes the indices contiguous, and
// the k = 7 range lands on indices 128..255 with width 1, so values below 256
// are exact.
constexpr std::size_t bucket_index(std::uint64_t value_us) {
  if (value_us < kSubBucketCount) {
    return static_cast<std::size_t>(value_us);
  }
  const int shift = static_cast<int>(std::bit_width(value_us)) - 1 - kSubBucketBits;
  return static_cast<std::size_t>(static_cast<std::uint64_t>(shift) * kSubBucketCount +
                                  (value_us >> shift));
}

// The largest value that bucket_index maps to index.
constexpr std::uint64_t bucket_upper_bound(std::size_t index) {
  if (index < kSubBucketCount) {
    return index;
  }
  const int shift = static_cast<int>(index / kSubBucketCount) - 1;
  const std::uint64_t top_bits = index % kSubBucketCount + kSubBucketCount;
  return ((top_bits + 1) << shift) - 1;
}

constexpr std::size_t kBucketCount = bucket_index(LatencyHistogram::kHighestTrackableUs) + 1;

static_assert(bucket_index(255) == 255 && bucket_upper_bound(255) == 255);
static_assert(bucket_index(256) == 256 && bucket_upper_bound(256) == 257);
static_assert(bucket_upper_bound(bucket_index(LatencyHistogram::kHighestTrackableUs)) >=
              LatencyHistogram::kHighestTrackableUs);

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBucketCount, 0) {}

void LatencyHistogram::record(std::uint64_t value_us) {
  if (value_us > kHighestTrackableUs) {
    value_us = kHighestTrackableUs;
    ++saturated_;
  }
  ++counts_[bucket_index(value_us)];
  ++count_;
  sum_us_ += value_us;
  min_us_ = std::min(min_us_, value_us);
  max_us_ = std::max(max_us_, value_us);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  // Every histogram has the same layout, so merging is adding counters.
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
  saturated_ += other.saturated_;
  sum_us_ += other.sum_us_;
  min_us_ = std::min(min_us_, other.min_us_);
  max_us_ = std::max(max_us_, other.max_us_);
}

void LatencyHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  saturated_ = 0;
  sum_us_ = 0;
  min_us_ = std::numeric_limits<std::uint64_t>::max();
  max_us_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_us_) / static_cast<double>(count_);
}

std::uint64_t LatencyHistogram::percentile(double p) const {
  if (count_ == 0) {
    return 0;
  }
  // Written so that NaN also lands on min().
  if (!(p > 0.0)) {
    return min();
  }
  if (p >= 100.0) {
    return max_us_;
  }
  // Nearest rank: the smallest sample with at least p % of all at or below it.
  const double exact_rank = std::ceil(p / 100.0 * static_cast<double>(count_));
  const auto rank = std::clamp(static_cast<std::uint64_t>(exact_rank), std::uint64_t{1}, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::min(bucket_upper_bound(i), max_us_);
    }
  }
  return max_us_;  // Unreachable: the counters add up to count_.
}

}  // namespace relay::common
