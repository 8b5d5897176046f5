#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace relay::hub {

// The linger of busy batching streams (see WriteBatching::linger), stretched
// while the relay is saturated and back to its base once it is not.
//
// A saturated relay writes one frame per write: each subscriber's next frame
// arrives after its last write completed, so nothing is there to join, and
// every write costs gRPC a transport write and a callback hand-off of its
// own. Without help it stays saturated at its most expensive per message.
// A longer linger joins a busy stream's frames again, which frees the CPU,
// which lets it keep up.
//
// Saturation shows in how long writes take to complete: the callbacks that
// report completions queue behind all other work. The fastest write of a
// window, not the mean, is the signal, so that a few slow readers (whose
// writes wait for flow control) do not count as load. With relay-bench's
// rooms scenario on one core, the fastest write of each 200 ms took 10 to
// 16 ms while saturated; with fanout and latency (not saturated) 9 to 35 µs,
// so 250 µs is far from both.
class AdaptiveLinger {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::chrono::microseconds base{0};
    std::chrono::microseconds max{0};
    // The fastest write of a window taking this long means saturated.
    std::chrono::microseconds saturated_write{250};
    Clock::duration window = std::chrono::milliseconds(100);
  };

  explicit AdaptiveLinger(Options options, Clock::time_point now = Clock::now());
  AdaptiveLinger(const AdaptiveLinger&) = delete;
  AdaptiveLinger& operator=(const AdaptiveLinger&) = delete;

  std::chrono::microseconds current() const {
    return std::chrono::microseconds(current_us_.load(std::memory_order_relaxed));
  }

  // A lingering stream's write completed `took` after it started. At the end
  // of each window, the linger doubles (up to max) if even the fastest write
  // was slow, and otherwise falls by an eighth (down to base): quick to give
  // a saturated relay room, slow to take it back, so that it stays near the
  // shortest linger that keeps the relay from saturating instead of
  // swinging between the two. (Falling by a quarter, relay-bench rooms gave
  // 0.60x the deliveries per second at 1.75x the CPU per delivery.)
  void write_completed(Clock::duration took, Clock::time_point now);

 private:
  const Options options_;
  std::atomic<std::int64_t> current_us_;
  std::atomic<std::int64_t> fastest_us_;
  std::atomic<Clock::rep> window_end_;
};

}  // namespace relay::hub
