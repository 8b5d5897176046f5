#include <doctest/doctest.h>

#include "common/backoff.hpp"

using relay::common::Backoff;
using relay::common::BackoffPolicy;
using namespace std::chrono_literals;

TEST_CASE("backoff grows by the multiplier within the jitter range, up to the cap") {
  const BackoffPolicy policy{.initial = 1000ms, .multiplier = 1.6, .jitter = 0.2, .max = 5000ms};
  for (std::uint32_t seed = 0; seed < 50; ++seed) {
    Backoff backoff(policy, seed);
    double base = 1000;
    for (int attempt = 1; attempt <= 10; ++attempt) {
      const auto wait = backoff.next();
      CHECK(wait.count() >= static_cast<std::int64_t>(base * 0.8) - 1);
      CHECK(wait.count() <= static_cast<std::int64_t>(base * 1.2) + 1);
      CHECK(backoff.attempts() == attempt);
      base = std::min(base * 1.6, 5000.0);
    }
  }
}

TEST_CASE("backoff waits are spread by jitter, not all equal") {
  Backoff a(BackoffPolicy{}, 1), b(BackoffPolicy{}, 2);
  CHECK(a.next() != b.next());
}

TEST_CASE("backoff starts again from the initial wait after a reset") {
  Backoff backoff(BackoffPolicy{.initial = 100ms, .multiplier = 2, .jitter = 0, .max = 10000ms});
  CHECK(backoff.next() == 100ms);
  CHECK(backoff.next() == 200ms);
  CHECK(backoff.next() == 400ms);
  backoff.reset();
  CHECK(backoff.attempts() == 0);
  CHECK(backoff.next() == 100ms);
}

TEST_CASE("the default policy is gRPC's connection backoff with a 30 s cap") {
  const BackoffPolicy policy;
  CHECK(policy.initial == 1000ms);
  CHECK(policy.multiplier == doctest::Approx(1.6));
  CHECK(policy.jitter == doctest::Approx(0.2));
  CHECK(policy.max == 30000ms);
}
