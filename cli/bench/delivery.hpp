#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/latency_histogram.hpp"

// What a benchmark's deliveries are made of and how a subscriber counts
// them, whichever transport carried them (the relay's gRPC Chat streams or
// NATS subscriptions): the same bodies, the same gap and duplicate checks,
// the same latency histogram, the same pacing of closed-loop publishers.
namespace relay::cli::bench {

// What a publisher stamps into a body: its send time (steady clock, so that a
// subscriber on the same machine measures end-to-end latency), which of its
// room's publishers sent it, and that publisher's own count. A relay numbers
// a room's messages itself; a bare pub/sub server does not, so its
// subscribers find gaps and duplicates per publisher from these.
struct BodyStamp {
  std::chrono::steady_clock::time_point sent;
  std::uint32_t publisher = 0;
  std::uint64_t sequence = 0;
};

// The stamp's length in a body: 16 + 8 + 16 hex digits. Hex keeps the body
// valid UTF-8.
inline constexpr std::size_t kBodyStampBytes = 40;

// The stamp, then padding up to `size` (a smaller size gives the stamp alone).
std::string make_body(std::size_t size, const BodyStamp& stamp);
std::optional<BodyStamp> read_stamp(std::string_view body);

// Whether deliveries now count (after the warm-up, before the end).
struct Phase {
  std::atomic<bool> measuring{false};
};

// Told by a room's subscribers whenever the slowest of them has received one
// more message, so that a publisher that waits for the window goes on (see
// RoomProgress).
class WindowListener {
 public:
  virtual void window_moved() = 0;

 protected:
  ~WindowListener() = default;
};

// How far one room's fan-out has got: its publishers count what they sent,
// its subscribers what every one of them received. Publishing at full speed
// stays a window ahead of the room's slowest subscriber, so the bench
// measures what the server sustains for all of them, not how fast its
// queues grow (acks alone would not do: the relay acks before the fan-out is
// written, and core NATS does not ack at all). Pacing on the room's first
// subscriber alone let the others fall behind it without bound: the median
// latency of a closed loop then said how far they had drifted, which
// depended on whether a server serves its subscribers in the same order
// every time (bench/PROFILE.md, sixteenth session). The subscriber count and
// the list of publishers are complete before any publisher starts.
class RoomProgress {
 public:
  std::atomic<std::uint64_t> published{0};
  std::vector<WindowListener*> publishers;

  // `subscribers` count their deliveries here; publishers stay `window`
  // ahead of the slowest.
  void expect(std::size_t subscribers, std::size_t window);
  // One subscriber received (or found lost) its message number `index`
  // (0, 1, ...); true when that made it the last to get that many, so that
  // the window moved.
  bool passed(std::uint64_t index);
  std::uint64_t delivered() const { return delivered_.load(); }
  bool window_open(std::size_t window) const { return published.load() < delivered() + window; }

 private:
  std::size_t subscribers_ = 0;
  // How many subscribers have passed message i, at i % size. No subscriber
  // is further ahead of the slowest than the window, so twice that never
  // wraps onto a count still in use.
  std::vector<std::atomic<std::uint32_t>> passed_;
  // Messages every subscriber has passed.
  std::atomic<std::uint64_t> delivered_{0};
};

// What one subscriber saw while measuring.
struct StreamTally {
  std::uint64_t delivered = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
};

// One subscriber's account of what it received: sequences that must be
// contiguous per origin (the relay's room sequence is one origin; with core
// NATS each publisher of the room is one), and the latency of every
// delivery while measuring. record() is called by one thread at a time
// (a stream's or a subscription's delivery is serial), so only the count
// that the progress line reads while running is atomic; the rest is read
// once the subscriber has ended.
class DeliveryLog {
 public:
  // `progress`, when given, is told of every message this subscriber
  // receives or finds lost. `origins`: how many numberings to check.
  DeliveryLog(const Phase& phase, RoomProgress* progress, std::size_t origins = 1);

  // False when `origin` is out of range (a body that is not the bench's).
  bool record(std::size_t origin, std::uint64_t sequence,
              std::optional<std::chrono::steady_clock::time_point> sent);

  std::uint64_t delivered_so_far() const { return delivered_.load(std::memory_order_relaxed); }
  StreamTally tally() const;
  // Null when nothing was received while measuring: idle subscribers carry
  // no histogram.
  const common::LatencyHistogram* latencies() const { return latencies_.get(); }

 private:
  const Phase& phase_;
  RoomProgress* const progress_;
  std::vector<std::uint64_t> last_sequence_;  // per origin; 0 before the first
  std::atomic<std::uint64_t> delivered_{0};
  std::uint64_t passed_ = 0;  // received or lost, for `progress_`
  std::uint64_t lost_ = 0;
  std::uint64_t duplicated_ = 0;
  std::unique_ptr<common::LatencyHistogram> latencies_;
};

}  // namespace relay::cli::bench
