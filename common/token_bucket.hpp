#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace relay::common {

// A rate limit: `rate_per_second` tokens refill continuously up to `burst`;
// a rate of 0 turns the limit off. The relay limits publishes and room
// creations per user, and joins per stream; a client paces its publishes with
// the numbers the relay announces (a user's other sessions share them, so the
// relay's retry hint covers the rest). Not thread-safe: one owner.
// Times are microseconds of a steady clock.
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double burst)
      : rate_per_us_(rate_per_second / 1e6), burst_(burst), tokens_(burst) {}
  // `count` a minute, that many at once (0: no limit).
  static TokenBucket per_minute(std::size_t count) {
    return {static_cast<double>(count) / 60.0, static_cast<double>(count)};
  }

  bool try_take(std::int64_t now_us) {
    if (rate_per_us_ <= 0) {
      return true;
    }
    refill(now_us);
    if (tokens_ < 1) {
      return false;
    }
    tokens_ -= 1;
    return true;
  }

  // Whether the bucket has refilled to its burst, so that forgetting it and
  // starting a new one later changes nothing.
  bool full(std::int64_t now_us) {
    if (rate_per_us_ <= 0) {
      return true;
    }
    refill(now_us);
    return tokens_ >= burst_;
  }

  // 0 when a token was taken; otherwise the microseconds until one would be.
  std::int64_t take_or_wait_us(std::int64_t now_us) {
    return try_take(now_us) ? 0 : wait_us(now_us);
  }

  // How long until try_take can succeed; 0 when it can now.
  std::int64_t wait_us(std::int64_t now_us) {
    if (rate_per_us_ <= 0) {
      return 0;
    }
    refill(now_us);
    return tokens_ >= 1 ? 0 : static_cast<std::int64_t>((1 - tokens_) / rate_per_us_) + 1;
  }

 private:
  void refill(std::int64_t now_us) {
    if (last_us_ != 0) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - last_us_) * rate_per_us_);
    }
    last_us_ = now_us;
  }

  const double rate_per_us_;
  const double burst_;
  double tokens_;
  std::int64_t last_us_ = 0;
};

}  // namespace relay::common
