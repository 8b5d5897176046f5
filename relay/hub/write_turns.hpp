#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace relay::hub {

class Subscriber;

// Turns among the streams that write a backlog, so that a relay with many of
// them serves a few at a time, several writes each, rather than one write of
// each in turn. gRPC's callback API reports every stream's write completion
// through one queue, in order; with a thousand backlogged streams, each
// stream's next write came after the other 999's, by when its state (gRPC's
// call, the Subscriber, its queue) had left the CPU's caches. Without
// batches a delivery then cost 2.9x what it does with a hundred streams
// (6,827 against 2,357 ns; the Go reference 2,464 against 2,506), and every
// function on the path, gRPC's and the relay's, took about ten times as long
// (bench/PROFILE.md, sixteenth session).
//
// Only a write that a stream starts from the completion of its own last one
// (its backlog's next) takes a turn. The first write of a stream that was
// idle starts at once, so the fan-out of a message to streams that are
// keeping up, what a person waits for, never waits here; nor does anything
// while fewer backlogs than `writers` are being written.
class WriteTurns {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // Backlog writes in flight at once, in the whole relay.
    std::uint32_t writers = 32;
    // Writes in a row one stream may start while others wait for a turn.
    std::uint32_t burst = 32;
    // A turn held this long counts as given back: a write that waits for its
    // reader (HTTP/2 flow control) must not keep every other backlog waiting.
    Clock::duration expiry = std::chrono::milliseconds(5);
  };

  // What WriteTurns keeps of one stream, in its Subscriber; guarded by
  // WriteTurns' lock.
  struct Seat {
    std::uint32_t generation = 0;  // of the turn it holds
    std::uint16_t burst = 0;       // turns in a row
    bool holds = false;
    bool waiting = false;
    bool more_follows = false;  // of the write that waits
  };

  // A stream whose turn came: start its write (Subscriber::start_turn).
  struct Start {
    std::shared_ptr<Subscriber> subscriber;
    bool more_follows = false;
  };

  // Every turn is held and streams wait, and nothing else may come to give a
  // turn back (see expiry): the caller has the FlushTimer run the
  // subscriber's flush_due(), which calls due(), at `at`. The subscriber is
  // one that waits, which lives until its write has started and completed.
  struct Watch {
    Clock::time_point at;
    std::weak_ptr<Subscriber> subscriber;
  };

  struct Outcome {
    // False: the write waits for a turn, and is started through a Start.
    bool start_now = true;
    std::optional<Watch> watch;
  };

  WriteTurns();
  explicit WriteTurns(Options options, Clock::time_point now = Clock::now());
  WriteTurns(const WriteTurns&) = delete;
  WriteTurns& operator=(const WriteTurns&) = delete;

  // A write of `subscriber` (whose seat is `seat`) completed; `next` says
  // whether its backlog's next write is ready, and `more_follows` what that
  // write would tell gRPC. Gives back its turn, and decides whether the next
  // starts now. Streams whose turn came go into `starts`, for the caller to
  // start once it holds no lock.
  Outcome completed(const std::shared_ptr<Subscriber>& subscriber, Seat& seat, bool next,
                    bool more_follows, Clock::time_point now, std::vector<Start>& starts);

  // Starts what waits for turns that have expired since (see Watch).
  std::optional<Watch> due(Clock::time_point now, std::vector<Start>& starts);

  bool anyone_waiting() const { return waiting_count_.load(std::memory_order_relaxed) > 0; }

 private:
  void expire_locked(Clock::time_point now);
  void take_locked(Seat& seat);
  void start_waiting_locked(std::vector<Start>& starts);
  std::optional<Watch> watch_locked(Clock::time_point now);

  const Options options_;
  std::mutex mutex_;
  // Streams in the order they asked; a seat is read only while its
  // Subscriber is alive.
  std::deque<std::pair<std::weak_ptr<Subscriber>, Seat*>> waiting_;  // guarded by mutex_
  std::atomic<std::size_t> waiting_count_{0};
  std::uint32_t held_ = 0;                     // turns of this generation; guarded by mutex_
  std::uint32_t generation_ = 1;               // guarded by mutex_
  Clock::time_point generation_start_;         // guarded by mutex_
  std::optional<Clock::time_point> watch_at_;  // guarded by mutex_
};

}  // namespace relay::hub
