#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace relay::common {

// gRPC's connection-backoff defaults: 1 s, growing 1.6 times per attempt, each
// wait jittered by +-20 %, capped (here at 30 s, configurable).
struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  double multiplier = 1.6;
  double jitter = 0.2;
  std::chrono::milliseconds max{30000};
};

// The waits between reconnection attempts. Not thread-safe: one per
// supervisor.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy, std::uint32_t seed = std::random_device{}());

  // The wait before the next attempt; each call grows the base wait.
  std::chrono::milliseconds next();
  // After a stream that worked: start again from the initial wait.
  void reset();
  int attempts() const { return attempts_; }

 private:
  const BackoffPolicy policy_;
  std::mt19937 random_;
  double base_ms_;
  int attempts_ = 0;
};

}  // namespace relay::common
