#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "common/latency_histogram.hpp"

using relay::common::LatencyHistogram;

namespace {

constexpr double kPercentiles[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};

// The nearest-rank percentile of sorted samples, the definition
// LatencyHistogram::percentile approximates.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  if (p <= 0) {
    return sorted.front();
  }
  const auto n = static_cast<std::uint64_t>(sorted.size());
  const auto rank =
      std::clamp(static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(n))),
                 std::uint64_t{1}, n);
  return sorted[rank - 1];
}

// Log-uniform in [low, high]: as many samples per doubling at 1 ms as at 1 s.
std::vector<std::uint64_t> log_uniform_samples(std::uint64_t low, std::uint64_t high, std::size_t n,
                                               std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> exponent(std::log2(static_cast<double>(low)),
                                                  std::log2(static_cast<double>(high)));
  std::vector<std::uint64_t> samples(n);
  for (auto& sample : samples) {
    const auto value = static_cast<std::uint64_t>(std::exp2(exponent(random)));
    sample = std::clamp(value, low, high);
  }
  return samples;
}

}  // namespace

TEST_CASE("latency histogram records values below 256 exactly") {
  LatencyHistogram histogram;
  for (std::uint64_t value = 0; value < 256; ++value) {
    histogram.record(value);
  }
  REQUIRE(histogram.count() == 256);
  CHECK(histogram.min() == 0);
  CHECK(histogram.max() == 255);
  CHECK(histogram.mean() == doctest::Approx(127.5));
  CHECK(histogram.saturated() == 0);
  // With one sample of each value 0..255, rank k (1-based) is the value k - 1.
  // p is taken halfway into the rank so that rounding cannot move it.
  for (std::uint64_t rank = 1; rank <= 256; ++rank) {
    const double p = (static_cast<double>(rank) - 0.5) * 100.0 / 256.0;
    CHECK(histogram.percentile(p) == rank - 1);
  }

  SUBCASE("each value alone is its own percentile") {
    for (std::uint64_t value = 0; value < 256; ++value) {
      LatencyHistogram single;
      single.record(value);
      CHECK(single.percentile(0) == value);
      CHECK(single.percentile(50) == value);
      CHECK(single.percentile(100) == value);
    }
  }
}

TEST_CASE("latency histogram percentiles are within 2^-7 of the exact value") {
  std::vector<std::uint64_t> samples;
  SUBCASE("microseconds") { samples = log_uniform_samples(1, 1'000, 50'000, 1); }
  SUBCASE("milliseconds") { samples = log_uniform_samples(1'000, 1'000'000, 50'000, 2); }
  SUBCASE("seconds up to an hour") {
    samples = log_uniform_samples(1'000'000, LatencyHistogram::kHighestTrackableUs, 50'000, 3);
  }
  SUBCASE("the whole range") {
    samples = log_uniform_samples(1, LatencyHistogram::kHighestTrackableUs, 100'000, 4);
  }
  SUBCASE("uniform, so most samples share their top bits") {
    std::mt19937_64 random(5);
    std::uniform_int_distribution<std::uint64_t> uniform(0, 10'000'000);
    samples.resize(100'000);
    std::generate(samples.begin(), samples.end(), [&] { return uniform(random); });
  }

  LatencyHistogram histogram;
  for (const auto sample : samples) {
    histogram.record(sample);
  }
  std::sort(samples.begin(), samples.end());
  REQUIRE(histogram.count() == samples.size());
  CHECK(histogram.saturated() == 0);
  CHECK(histogram.min() == samples.front());
  CHECK(histogram.max() == samples.back());
  const double exact_sum = std::accumulate(samples.begin(), samples.end(), 0.0);
  CHECK(histogram.mean() == doctest::Approx(exact_sum / static_cast<double>(samples.size())));

  for (const double p : kPercentiles) {
    CAPTURE(p);
    const std::uint64_t exact = exact_percentile(samples, p);
    const std::uint64_t reported = histogram.percentile(p);
    CAPTURE(exact);
    CAPTURE(reported);
    // The upper bound of the bucket, capped at max: never an underestimate.
    CHECK(reported >= exact);
    CHECK(reported - exact <= exact / 128);
  }
}

TEST_CASE("latency histograms merged from threads equal one histogram that saw every value") {
  const auto samples = log_uniform_samples(1, LatencyHistogram::kHighestTrackableUs, 40'000, 6);
  LatencyHistogram all;
  std::vector<LatencyHistogram> per_thread(4);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    all.record(samples[i]);
    per_thread[i % per_thread.size()].record(samples[i]);
  }
  all.record(LatencyHistogram::kHighestTrackableUs + 1);
  per_thread[1].record(LatencyHistogram::kHighestTrackableUs + 1);

  LatencyHistogram merged;
  for (const auto& histogram : per_thread) {
    merged.merge(histogram);
  }
  merged.merge(LatencyHistogram{});  // An idle thread changes nothing.

  REQUIRE(merged.count() == all.count());
  CHECK(merged.saturated() == 1);
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  CHECK(merged.mean() == doctest::Approx(all.mean()));
  for (double p = 0; p <= 100; p += 0.5) {
    CAPTURE(p);
    CHECK(merged.percentile(p) == all.percentile(p));
  }
}

TEST_CASE("latency histogram percentiles never decrease as p grows") {
  LatencyHistogram histogram;
  for (const auto sample :
       log_uniform_samples(1, LatencyHistogram::kHighestTrackableUs, 20'000, 7)) {
    histogram.record(sample);
  }
  std::uint64_t previous = histogram.percentile(0);
  CHECK(previous == histogram.min());
  for (int tenths = 1; tenths <= 1000; ++tenths) {
    const double p = tenths / 10.0;
    CAPTURE(p);
    const std::uint64_t current = histogram.percentile(p);
    CHECK(current >= previous);
    CHECK(current <= histogram.max());
    previous = current;
  }
  CHECK(previous == histogram.max());
}

TEST_CASE("latency histogram clamps values above an hour to the top and counts them") {
  constexpr auto top = LatencyHistogram::kHighestTrackableUs;
  LatencyHistogram histogram;
  histogram.record(top);
  histogram.record(top + 1);
  histogram.record(std::numeric_limits<std::uint64_t>::max());

  CHECK(histogram.count() == 3);
  CHECK(histogram.saturated() == 2);
  CHECK(histogram.min() == top);
  CHECK(histogram.max() == top);
  CHECK(histogram.mean() == doctest::Approx(static_cast<double>(top)));
  CHECK(histogram.percentile(50) == top);
  CHECK(histogram.percentile(100) == top);
}

TEST_CASE("latency histogram clamps p to [0, 100]") {
  LatencyHistogram histogram;
  for (std::uint64_t value = 10; value <= 20; ++value) {
    histogram.record(value);
  }
  CHECK(histogram.percentile(-5) == 10);
  CHECK(histogram.percentile(250) == 20);
}

TEST_CASE("an empty latency histogram reports zeros") {
  LatencyHistogram histogram;
  SUBCASE("never recorded") {}
  SUBCASE("reset after recording") {
    histogram.record(5);
    histogram.record(LatencyHistogram::kHighestTrackableUs * 2);
    histogram.reset();
  }
  CHECK(histogram.count() == 0);
  CHECK(histogram.saturated() == 0);
  CHECK(histogram.min() == 0);
  CHECK(histogram.max() == 0);
  CHECK(histogram.mean() == 0.0);
  CHECK(histogram.percentile(0) == 0);
  CHECK(histogram.percentile(50) == 0);
  CHECK(histogram.percentile(100) == 0);

  histogram.record(42);
  CHECK(histogram.count() == 1);
  CHECK(histogram.min() == 42);
  CHECK(histogram.max() == 42);
  CHECK(histogram.percentile(50) == 42);
}
