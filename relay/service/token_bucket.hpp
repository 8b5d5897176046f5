#pragma once

#include <algorithm>
#include <cstdint>

namespace relay::service {

// Publish rate limit of one stream: `rate_per_second` tokens refill
// continuously up to `burst`; a rate of 0 turns the limit off. Used only from
// one stream's read callbacks, which never run concurrently, so no lock.
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double burst)
      : rate_per_us_(rate_per_second / 1e6), burst_(burst), tokens_(burst) {}

  bool try_take(std::int64_t now_us) {
    if (rate_per_us_ <= 0) {
      return true;
    }
    if (last_us_ != 0) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - last_us_) * rate_per_us_);
    }
    last_us_ = now_us;
    if (tokens_ < 1) {
      return false;
    }
    tokens_ -= 1;
    return true;
  }

 private:
  const double rate_per_us_;
  const double burst_;
  double tokens_;
  std::int64_t last_us_ = 0;
};

}  // namespace relay::service
