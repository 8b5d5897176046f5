#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "relay/hub/adaptive_linger.hpp"
#include "relay/hub/flush_timer.hpp"
#include "relay/hub/subscriber.hpp"
#include "relay/hub/write_turns.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using namespace std::chrono_literals;
using relay::hub::testing::ManualSink;
using relay::hub::testing::TextFrame;

namespace {

const WriteTurns::Clock::time_point kStart{};

// A stream as WriteTurns sees it: its Subscriber (which WriteTurns only
// hands back in a Start) and its seat.
struct Stream {
  explicit Stream(const std::string& user)
      : subscriber(
            std::make_shared<Subscriber>(1, user, SubscriberKind::chat, QueueLimits{}, sink)) {}
  ManualSink sink;
  std::shared_ptr<Subscriber> subscriber;
  WriteTurns::Seat seat;
};

WriteTurns::Outcome next_write(WriteTurns& turns, Stream& stream, WriteTurns::Clock::time_point now,
                               std::vector<WriteTurns::Start>& starts) {
  return turns.completed(stream.subscriber, stream.seat, true, false, now, starts);
}

}  // namespace

TEST_CASE("a backlog's next write waits once every turn is taken, and starts as one comes back") {
  WriteTurns turns({.writers = 2, .burst = 100, .expiry = 1h}, kStart);
  Stream a("a"), b("b"), c("c");
  std::vector<WriteTurns::Start> starts;
  CHECK(next_write(turns, a, kStart, starts).start_now);
  CHECK(next_write(turns, b, kStart, starts).start_now);
  const auto waits = next_write(turns, c, kStart, starts);
  CHECK_FALSE(waits.start_now);
  CHECK(turns.anyone_waiting());
  CHECK(starts.empty());

  // a's backlog is written: its turn goes to c.
  CHECK(turns.completed(a.subscriber, a.seat, false, false, kStart + 1ms, starts).start_now);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].subscriber == c.subscriber);
  CHECK_FALSE(turns.anyone_waiting());
}

TEST_CASE("a stream that had its burst of turns in a row lets the one that waits go first") {
  WriteTurns turns({.writers = 1, .burst = 2, .expiry = 1h}, kStart);
  Stream a("a"), b("b");
  std::vector<WriteTurns::Start> starts;
  CHECK(next_write(turns, a, kStart, starts).start_now);
  CHECK_FALSE(next_write(turns, b, kStart, starts).start_now);
  CHECK(next_write(turns, a, kStart, starts).start_now);  // its second in a row
  CHECK(starts.empty());
  CHECK_FALSE(next_write(turns, a, kStart, starts).start_now);  // a third would be one too many
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].subscriber == b.subscriber);
  starts.clear();
  // b's burst ends the same way, and a goes again: no one waits for ever.
  CHECK(next_write(turns, b, kStart, starts).start_now);
  CHECK_FALSE(next_write(turns, b, kStart, starts).start_now);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].subscriber == a.subscriber);
}

TEST_CASE(
    "turns held past their expiry are given back, so a write that never completes stalls no one") {
  WriteTurns turns({.writers = 1, .burst = 100, .expiry = 5ms}, kStart);
  Stream stuck("stuck"), waiting("waiting");
  std::vector<WriteTurns::Start> starts;
  CHECK(next_write(turns, stuck, kStart, starts).start_now);  // its reader stops reading
  const auto outcome = next_write(turns, waiting, kStart + 1ms, starts);
  CHECK_FALSE(outcome.start_now);
  // Nothing else will complete: the caller is told when to look again, and
  // through which stream (one that waits, so alive until then).
  REQUIRE(outcome.watch.has_value());
  const auto watch_at = outcome.watch->at;
  CHECK(watch_at >= kStart + 5ms);
  CHECK(watch_at <= kStart + 7ms);
  CHECK(outcome.watch->subscriber.lock() == waiting.subscriber);

  CHECK_FALSE(turns.due(kStart + 2ms, starts).has_value());  // still held, a watch is set
  CHECK(starts.empty());
  CHECK_FALSE(turns.due(watch_at, starts).has_value());
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].subscriber == waiting.subscriber);
  starts.clear();

  // The stuck write's completion, when it comes, gives back nothing twice.
  CHECK(turns.completed(stuck.subscriber, stuck.seat, false, false, watch_at, starts).start_now);
  Stream third("third");
  CHECK_FALSE(next_write(turns, third, watch_at, starts).start_now);
}

TEST_CASE("a watch whose time has come is spent: the next stream to wait on held turns gets one") {
  WriteTurns turns({.writers = 1, .burst = 100, .expiry = 5ms}, kStart);
  Stream holder("holder"), first("first"), second("second");
  std::vector<WriteTurns::Start> starts;
  CHECK(next_write(turns, holder, kStart, starts).start_now);
  const auto outcome = next_write(turns, first, kStart, starts);
  REQUIRE(outcome.watch.has_value());
  CHECK(outcome.watch->at == kStart + 6ms);
  // The holder's write completes just after its turn expired: first goes,
  // with a turn of the new generation.
  CHECK(turns.completed(holder.subscriber, holder.seat, false, false, kStart + 5200us, starts)
            .start_now);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].subscriber == first.subscriber);
  starts.clear();
  // Within a millisecond of the first watch (the FlushTimer may run it that
  // early, when first no longer waits) second waits on first's turn: it gets
  // a watch of its own, for when that turn expires.
  const auto late = next_write(turns, second, kStart + 5500us, starts);
  CHECK_FALSE(late.start_now);
  REQUIRE(late.watch.has_value());
  CHECK(late.watch->at == kStart + 11200us);
  CHECK(late.watch->subscriber.lock() == second.subscriber);
}

TEST_CASE("a stream gone while it waited for a turn is passed over") {
  WriteTurns turns({.writers = 1, .burst = 100, .expiry = 1h}, kStart);
  Stream a("a"), c("c");
  auto b = std::make_unique<Stream>("b");
  std::vector<WriteTurns::Start> starts;
  CHECK(next_write(turns, a, kStart, starts).start_now);
  CHECK_FALSE(next_write(turns, *b, kStart, starts).start_now);
  CHECK_FALSE(next_write(turns, c, kStart, starts).start_now);
  b.reset();
  CHECK(turns.completed(a.subscriber, a.seat, false, false, kStart, starts).start_now);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].subscriber == c.subscriber);
}

TEST_CASE(
    "through the Subscriber: a backlog takes turns while saturated, an idle stream's write never "
    "waits") {
  // Saturated for the test's whole length: one slow write closes the first
  // window, and the next closes an hour on.
  const auto now = AdaptiveLinger::Clock::now();
  AdaptiveLinger linger({.base = 0us, .max = 100ms, .window = 1h}, now - 90min);
  linger.write_completed(2ms, now);
  REQUIRE(linger.stretched());
  WriteTurns turns({.writers = 1, .burst = 1, .expiry = 1h});
  FlushTimer timer;
  const WriteBatching batching{.max_frames = 1, .max_bytes = 0, .linger = &linger, .turns = &turns};
  struct Plain {
    Plain(const std::string& user, const WriteBatching& batching, FlushTimer& timer)
        : subscriber(std::make_shared<Subscriber>(1, user, SubscriberKind::chat, QueueLimits{},
                                                  sink, batching, &timer)) {
      sink.bind(subscriber.get());
    }
    // A backlog deeper than the writes gRPC may keep back, so that each
    // completion starts the next write at once (no linger).
    void queue(int frames) {
      bool flush = false;
      for (int i = 0; i < frames; ++i) {
        flush = subscriber->enqueue(std::make_shared<TextFrame>(std::to_string(i))) || flush;
      }
      if (flush) {
        subscriber->flush();
      }
    }
    ManualSink sink;
    std::shared_ptr<Subscriber> subscriber;
  };
  Plain a("a", batching, timer), b("b", batching, timer), idle("idle", batching, timer);
  a.queue(20);
  b.queue(20);
  CHECK(a.sink.write_in_flight());  // first writes: no turn needed
  CHECK(b.sink.write_in_flight());

  CHECK(a.sink.complete_one());
  CHECK(a.sink.write_in_flight());  // a's backlog took the one turn
  CHECK(b.sink.complete_one());
  CHECK_FALSE(b.sink.write_in_flight());  // b's waits for it

  idle.queue(1);
  CHECK(idle.sink.write_in_flight());  // what a person waits for does not

  CHECK(a.sink.complete_one());  // a had its burst: b's turn
  CHECK(b.sink.write_in_flight());
  CHECK_FALSE(a.sink.write_in_flight());
  CHECK(b.sink.complete_one());
  CHECK(a.sink.write_in_flight());
}
