#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

namespace relay::hub {

// The linger of busy batching streams (see WriteBatching::linger): zero
// while the relay has CPU to spare, stretched only while it is saturated,
// and back to its base once it is not.
//
// A saturated relay writes one frame per write: each subscriber's next frame
// arrives after its last write completed, so nothing is there to join, and
// every write costs gRPC a transport write and a callback hand-off of its
// own. Without help it stays saturated at its most expensive per message.
// A linger joins a busy stream's frames again, which frees the CPU, which
// lets it keep up. A relay that is not saturated gains nothing worth a
// person's wait from it: frames that queue behind a write in flight are
// joined anyway when it completes.
//
// Saturation is measured two ways, and either one counts:
// - The share of its CPUs that the relay used over a window. This is what
//   "CPU to spare" means, and it is the only signal that sees a relay whose
//   every write carries one frame: relay-bench latency (1,000 messages a
//   second to 100 streams) kept the fastest write of each window under
//   250 µs at 95-98 % of its core, and with no linger its p50 then reached
//   0.7 s with a connection per subscriber.
// - How long writes take to complete: the callbacks that report completions
//   queue behind all other work, so this sees the saturation of gRPC's
//   callback threads even on a machine with more cores than they can use.
//   The fastest write of a window, not the mean, is the signal, so that a
//   few slow readers (whose writes wait for flow control) do not count as
//   load. With relay-bench's rooms scenario on one core, the fastest write of
//   each 200 ms took 10 to 16 ms while saturated; with fanout and latency at
//   a 5 ms linger 9 to 35 µs, so 250 µs is far from both.
class AdaptiveLinger {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::chrono::microseconds base{0};
    std::chrono::microseconds max{0};
    // Where a saturated relay starts from when its base is zero, and the
    // shortest linger worth keeping: falling below it goes back to the base.
    std::chrono::microseconds first_step{1000};
    // The fastest write of a window taking this long means saturated.
    std::chrono::microseconds saturated_write{250};
    Clock::duration window = std::chrono::milliseconds(100);
    // Using this share of its CPUs over a window means saturated; under half
    // of it, clearly not, and the linger falls by half instead of an eighth.
    // (At 0.8, relay-bench latency without batches, a connection per
    // subscriber, lingered in the windows that crossed 80 % while the relay
    // had room: p50 1.5x the Go reference's. With Hub::DeferredWrites the
    // relay keeps up at 88 % without a linger; bench/PROFILE.md, eleventh
    // session.)
    double saturated_cpu_share = 0.95;
    // The relay's CPU time so far; none: CPU is not a signal.
    std::function<std::chrono::nanoseconds()> cpu_time = nullptr;
    // How many CPUs the relay may run on.
    int cpus = 1;
  };

  explicit AdaptiveLinger(Options options, Clock::time_point now = Clock::now());
  AdaptiveLinger(const AdaptiveLinger&) = delete;
  AdaptiveLinger& operator=(const AdaptiveLinger&) = delete;

  std::chrono::microseconds current() const {
    return std::chrono::microseconds(current_us_.load(std::memory_order_relaxed));
  }
  // Whether the linger is stretched: the relay was saturated lately.
  bool stretched() const {
    return current_us_.load(std::memory_order_relaxed) > options_.base.count();
  }

  // A batching stream's write completed `took` after it started. At the end
  // of each window, the linger doubles (from first_step, up to max) if the
  // relay was saturated, and otherwise falls by an eighth, or by half when
  // the relay used under half the saturated CPU share, back to base below
  // first_step: quick to give a saturated relay room, and gone within a
  // window or a few once it is not. (Falling by a quarter, relay-bench rooms
  // gave 0.60x the deliveries per second at 1.75x the CPU per delivery.
  // No floor of first_step while near saturation: one kept a relay at 70 %
  // of its core lingering for good, and relay-bench latency without
  // batches, 100 streams a connection, had 2.5x the p50 it has without it;
  // bench/PROFILE.md, eighth session.)
  void write_completed(Clock::duration took, Clock::time_point now);
  // A write of a stream that does not batch completed: it ends a window as
  // write_completed does, but its duration says nothing. Such a write
  // completes once gRPC has taken its bytes, which a reader that is slow
  // only for itself delays too, and its stream would not linger anyway: it
  // only holds its connection (see Subscriber) while the CPU says saturated.
  void write_completed(Clock::time_point now) { end_window_if_due(now); }

 private:
  void end_window_if_due(Clock::time_point now);

  const Options options_;
  std::atomic<std::int64_t> current_us_;
  std::atomic<std::int64_t> fastest_us_;
  std::atomic<Clock::rep> window_end_;
  // The CPU time at the start of the window; written only by the thread
  // that closes a window, which one compare-exchange elects.
  std::atomic<std::int64_t> window_cpu_ns_;
};

// The CPU time this process has used, and how many CPUs it may run on: the
// relay's own figures for AdaptiveLinger::Options.
std::chrono::nanoseconds process_cpu_time();
int usable_cpus();

}  // namespace relay::hub
