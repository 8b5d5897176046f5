#include "common/backoff.hpp"

#include <algorithm>

namespace relay::common {

Backoff::Backoff(BackoffPolicy policy, std::uint32_t seed)
    : policy_(policy), random_(seed), base_ms_(static_cast<double>(policy.initial.count())) {}

std::chrono::milliseconds Backoff::next() {
  const double cap = static_cast<double>(policy_.max.count());
  std::uniform_real_distribution<double> spread(1.0 - policy_.jitter, 1.0 + policy_.jitter);
  // Jitter applies to the capped wait, so clients that all lost the same
  // relay do not come back in step even once they reach the cap.
  const double wait = std::min(base_ms_, cap) * spread(random_);
  base_ms_ = std::min(base_ms_ * policy_.multiplier, cap);
  ++attempts_;
  return std::chrono::milliseconds(static_cast<std::int64_t>(wait));
}

void Backoff::reset() {
  base_ms_ = static_cast<double>(policy_.initial.count());
  attempts_ = 0;
}

}  // namespace relay::common
