#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "relay/hub/flush_timer.hpp"
#include "relay/hub/hub.hpp"
#include "relay/hub/subscriber.hpp"
#include "relay/hub/subscriber_counters.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::Client;
using relay::hub::testing::FakeClock;
using relay::hub::testing::ManualSink;
using relay::hub::testing::TextEncoder;
using relay::hub::testing::TextFrame;

namespace {

FramePtr frame(std::string text) { return std::make_shared<TextFrame>(std::move(text)); }

struct Fixture {
  explicit Fixture(QueueLimits limits = {}, WriteBatching batching = {})
      : subscriber(1, "ann", SubscriberKind::chat, limits, sink, batching) {
    sink.bind(&subscriber);
  }
  void push(const std::string& text) {
    if (subscriber.enqueue(frame(text))) {
      subscriber.flush();
    }
  }
  ManualSink sink;
  Subscriber subscriber;
};

}  // namespace

TEST_CASE("a subscriber keeps exactly one write in flight and writes in queue order") {
  Fixture f;
  f.push("a");
  CHECK(f.sink.write_in_flight());
  f.push("b");
  f.push("c");
  CHECK(f.subscriber.queued_frames() == 2);
  f.sink.complete_all();
  CHECK(f.sink.written() == std::vector<std::string>{"a", "b", "c"});
  CHECK(f.subscriber.queued_frames() == 0);
  CHECK(f.subscriber.queued_bytes() == 0);
}

TEST_CASE("the queue keeps its order as it wraps, grows past a burst and gives the room back") {
  Fixture f;
  std::vector<std::string> sent;
  auto push = [&](int count) {
    for (int i = 0; i < count; ++i) {
      sent.push_back(std::to_string(sent.size()));
      f.push(sent.back());
    }
  };
  push(7);  // one in flight, six queued
  for (int i = 0; i < 4; ++i) {
    REQUIRE(f.sink.complete_one());
  }
  CHECK(f.subscriber.queue_slots() == 8);
  push(40);  // queued behind what is left, around the end of the first ring
  CHECK(f.subscriber.queued_frames() == 42);
  CHECK(f.subscriber.queue_slots() == 64);
  f.sink.complete_all();
  CHECK(f.subscriber.queued_frames() == 0);
  CHECK(f.subscriber.queue_slots() == 0);  // a burst's growth is given back
  push(3);                                 // in flight, then on a new small ring
  CHECK(f.subscriber.queue_slots() == 2);
  push(20);  // a depth of 22 keeps its ring once empty
  f.sink.complete_all();
  CHECK(f.subscriber.queue_slots() == 32);
  CHECK(f.sink.written() == sent);
}

TEST_CASE("a stream idle for a whole sweep gives its queue's room back, a busy one keeps it") {
  Fixture f;
  f.push("a");
  f.push("b");
  f.push("c");  // queued behind "a": the ring is made, and grows to the depth
  CHECK(f.subscriber.queue_slots() == 2);
  CHECK_FALSE(f.subscriber.trim_if_idle());  // a write in flight
  f.sink.complete_all();
  CHECK(f.subscriber.queue_slots() == 2);
  CHECK_FALSE(f.subscriber.trim_if_idle());  // caught up, but it wrote since the last sweep
  CHECK(f.subscriber.queue_slots() == 2);
  CHECK(f.subscriber.trim_if_idle());  // nothing written for a whole sweep
  CHECK(f.subscriber.queue_slots() == 0);
  CHECK_FALSE(f.subscriber.trim_if_idle());  // nothing left to give
  f.push("d");
  f.push("e");  // a ring again
  CHECK(f.subscriber.queue_slots() == 1);
  f.sink.complete_all();
  CHECK(f.sink.written() == std::vector<std::string>{"a", "b", "c", "d", "e"});
}

TEST_CASE("without batching every write carries one frame") {
  Fixture f;
  for (const char* text : {"a", "b", "c"}) {
    f.push(text);
  }
  f.sink.complete_all();
  CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1, 1, 1});
}

TEST_CASE("a write of a backlog says more follows, except the last, an answer, or a batch") {
  SUBCASE("a stream that does not batch") {
    Fixture f;
    for (const char* text : {"a", "b", "c", "d"}) {
      f.push(text);
    }
    f.sink.complete_all();
    // "a" found the queue empty; "b" and "c" had frames behind them.
    CHECK(f.sink.more_follows() == std::vector<bool>{false, true, true, false});
    CHECK(f.sink.written() == std::vector<std::string>{"a", "b", "c", "d"});
  }
  SUBCASE("at most eight writes in a row are kept back") {
    Fixture f;
    std::vector<std::string> texts;
    for (int i = 0; i < 11; ++i) {
      texts.push_back("m" + std::to_string(i));
      f.push(texts.back());
    }
    f.sink.complete_all();
    std::vector<bool> expected(11, false);
    std::fill(expected.begin() + 1, expected.begin() + 9, true);
    CHECK(f.sink.more_follows() == expected);
    CHECK(f.sink.written() == texts);
  }
  SUBCASE("an answer is never kept back") {
    Fixture f;
    f.push("a");
    if (f.subscriber.enqueue_answer(frame("ack"))) {
      f.subscriber.flush();
    }
    f.push("b");
    f.sink.complete_all();
    CHECK(f.sink.written() == std::vector<std::string>{"a", "ack", "b"});
    CHECK(f.sink.more_follows() == std::vector<bool>{false, false, false});
  }
  SUBCASE("a batching stream sends its backlog in its batches") {
    Fixture f({}, {.max_frames = 2, .max_bytes = 100});
    for (const char* text : {"a", "b", "c", "d", "e", "f"}) {
      f.push(text);
    }
    f.sink.complete_all();
    CHECK(f.sink.more_follows() == std::vector<bool>(4, false));
  }
}

TEST_CASE("with batching a write carries what queued behind the last one, within bounds") {
  SUBCASE("a lone frame goes out at once, alone") {
    Fixture f({}, {.max_frames = 10, .max_bytes = 100});
    f.push("a");
    CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1});
  }
  SUBCASE("frames queued meanwhile go out together, in order") {
    Fixture f({}, {.max_frames = 10, .max_bytes = 100});
    for (const char* text : {"a", "b", "c", "d"}) {
      f.push(text);
    }
    f.sink.complete_all();
    CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1, 3});
    CHECK(f.sink.written() == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(f.subscriber.queued_bytes() == 0);
  }
  SUBCASE("by frame count") {
    Fixture f({}, {.max_frames = 2, .max_bytes = 100});
    for (const char* text : {"a", "b", "c", "d", "e", "f"}) {
      f.push(text);
    }
    f.sink.complete_all();
    CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1, 2, 2, 1});
  }
  SUBCASE("by bytes, though a larger frame still goes alone") {
    Fixture f({}, {.max_frames = 10, .max_bytes = 4});
    for (const char* text : {"a", "bb", "cc", "d", "eeeeeeee", "f"}) {
      f.push(text);
    }
    f.sink.complete_all();
    CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1, 2, 1, 1, 1});
    CHECK(f.sink.written() == std::vector<std::string>{"a", "bb", "cc", "d", "eeeeeeee", "f"});
  }
  SUBCASE("replayed and live frames share a batch and both bounds are released") {
    Fixture f({.max_frames = 2,
               .max_bytes = 100,
               .max_replay_frames_per_room = 3,
               .max_replay_bytes_per_room = 100},
              {.max_frames = 10, .max_bytes = 100});
    f.push("first");
    for (const char* text : {"r1", "r2", "r3"}) {
      (void)f.subscriber.enqueue(frame(text), true);
    }
    f.push("live");
    f.sink.complete_one();
    CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1, 4});
    CHECK(f.subscriber.queued_frames() == 0);
    f.sink.complete_one();
    for (const char* text : {"r4", "r5", "r6"}) {
      (void)f.subscriber.enqueue(frame(text), true);
    }
    CHECK_FALSE(f.subscriber.closing());
  }
}

TEST_CASE("enqueue asks for a flush only when no write is in flight") {
  Fixture f;
  CHECK(f.subscriber.enqueue(frame("a")));
  CHECK(f.subscriber.enqueue(frame("b")));  // still idle: nobody flushed yet
  f.subscriber.flush();
  CHECK_FALSE(f.subscriber.enqueue(frame("c")));
}

TEST_CASE("an overflowing queue closes the subscriber as a slow consumer") {
  SUBCASE("by frame count") {
    Fixture f({.max_frames = 3, .max_bytes = 1000});
    for (int i = 0; i < 4; ++i) {
      f.push("m" +
             std::to_string(i));  // m0 in flight, m1..m3 queued: the 4th queued frame overflows
    }
    CHECK_FALSE(f.subscriber.closing());
    f.push("m4");
    CHECK(f.subscriber.closing());
    CHECK(f.sink.finishes().empty());  // the write in flight must complete first
    f.sink.complete_all();
    REQUIRE(f.sink.finishes().size() == 1);
    CHECK(f.sink.finishes()[0].code == CloseCode::resource_exhausted);
    CHECK(f.sink.finishes()[0].message.find("slow consumer") != std::string::npos);
    CHECK(f.sink.written() == std::vector<std::string>{"m0"});
  }
  SUBCASE("by bytes") {
    Fixture f({.max_frames = 100, .max_bytes = 10});
    f.push("in-flight");
    f.push("12345");
    f.push("123456");
    CHECK(f.subscriber.closing());
  }
}

TEST_CASE("frames offered after close are not queued") {
  Fixture f;
  f.subscriber.close({CloseCode::unavailable, "relay shutting down"}, true);
  CHECK_FALSE(f.subscriber.enqueue(frame("late")));
  REQUIRE(f.sink.finishes().size() == 1);
  CHECK(f.sink.finishes()[0].code == CloseCode::unavailable);
}

TEST_CASE("a draining close writes what is queued, then finishes once") {
  Fixture f;
  f.push("a");
  f.push("b");
  f.subscriber.close({CloseCode::unavailable, "relay shutting down"}, true);
  f.subscriber.close({CloseCode::ok, "second close is ignored"}, true);
  CHECK(f.sink.finishes().empty());
  f.sink.complete_all();
  CHECK(f.sink.written() == std::vector<std::string>{"a", "b"});
  REQUIRE(f.sink.finishes().size() == 1);
  CHECK(f.sink.finishes()[0].code == CloseCode::unavailable);
}

TEST_CASE("a close without drain drops the queue but waits for the write in flight") {
  Fixture f;
  f.push("a");
  f.push("b");
  f.subscriber.close({CloseCode::ok, ""}, false);
  CHECK(f.sink.finishes().empty());
  f.sink.complete_all();
  CHECK(f.sink.written() == std::vector<std::string>{"a"});
  CHECK(f.sink.finishes().size() == 1);
}

TEST_CASE("a failed write drops the queue and finishes the stream as cancelled") {
  Fixture f;
  f.push("a");
  f.push("b");
  f.sink.complete_one(false);
  REQUIRE(f.sink.finishes().size() == 1);
  CHECK(f.sink.finishes()[0].code == CloseCode::cancelled);
  CHECK_FALSE(f.sink.write_in_flight());
}

TEST_CASE("a join's replay is bounded apart from live frames") {
  Fixture f({.max_frames = 2,
             .max_bytes = 1000,
             .max_replay_frames_per_room = 10,
             .max_replay_bytes_per_room = 1000});
  for (int i = 0; i < 10; ++i) {
    (void)f.subscriber.enqueue(frame("r" + std::to_string(i)), true);
  }
  SUBCASE("a full replay leaves the live limits whole") {
    (void)f.subscriber.enqueue(frame("live1"));
    (void)f.subscriber.enqueue(frame("live2"));
    CHECK_FALSE(f.subscriber.closing());
    CHECK(f.subscriber.queued_frames() == 12);
    (void)f.subscriber.enqueue(frame("live3"));
    CHECK(f.subscriber.closing());
  }
  SUBCASE("replay beyond one history per room closes the stream") {
    (void)f.subscriber.enqueue(frame("r10"), true);
    CHECK(f.subscriber.closing());
  }
  SUBCASE("each room the stream is in allows one more history") {
    REQUIRE(f.subscriber.add_room_if_open("a"));
    for (int i = 10; i < 20; ++i) {
      (void)f.subscriber.enqueue(frame("r" + std::to_string(i)), true);
    }
    CHECK_FALSE(f.subscriber.closing());
    (void)f.subscriber.enqueue(frame("r20"), true);
    CHECK(f.subscriber.closing());
  }
}

TEST_CASE("a slow consumer whose write is stuck asks the sink, once, to cancel it") {
  Fixture f({.max_frames = 1, .max_bytes = 1000});
  f.push("in flight");
  f.push("queued");
  CHECK(f.sink.stuck_notices() == 0);
  f.push("overflow");
  f.push("offered after close");
  f.subscriber.flush();
  CHECK(f.sink.stuck_notice_drains() == std::vector<bool>{false});
  CHECK(f.sink.finishes().empty());
  f.sink.complete_one(false);  // what the cancel makes of the stuck write
  REQUIRE(f.sink.finishes().size() == 1);
  CHECK(f.sink.finishes()[0].code == CloseCode::resource_exhausted);
}

TEST_CASE("a draining close asks the sink, once, to bound the drain") {
  Fixture f;
  SUBCASE("a write in flight at the close") {
    f.push("a");
    f.push("b");
    f.subscriber.close({CloseCode::unavailable, "relay shutting down"}, true);
    f.subscriber.flush();
    CHECK(f.sink.stuck_notice_drains() == std::vector<bool>{true});
    // A client that reads gets the rest, and the stream finishes.
    CHECK(f.sink.complete_one());
    CHECK(f.sink.complete_one());
    CHECK(f.sink.written() == std::vector<std::string>{"a", "b"});
    REQUIRE(f.sink.finishes().size() == 1);
    CHECK(f.sink.finishes()[0].code == CloseCode::unavailable);
    CHECK(f.sink.stuck_notices() == 1);
  }
  SUBCASE("frames queued and no write in flight at the close") {
    (void)f.subscriber.enqueue(frame("a"));
    f.subscriber.close({CloseCode::unavailable, "relay shutting down"}, true);
    CHECK(f.sink.stuck_notice_drains() == std::vector<bool>{true});
    CHECK(f.sink.complete_one());
    CHECK(f.sink.finishes().size() == 1);
  }
  SUBCASE("nothing left to write: the stream finishes, with nothing to bound") {
    f.subscriber.close({CloseCode::unavailable, "relay shutting down"}, true);
    CHECK(f.sink.stuck_notices() == 0);
    CHECK(f.sink.finishes().size() == 1);
  }
}

TEST_CASE("the client's own end (a half-close) drains for as long as the client reads") {
  Fixture f;
  f.push("a");
  f.push("b");
  f.subscriber.close({CloseCode::ok, ""}, true);
  f.subscriber.flush();
  CHECK(f.sink.stuck_notices() == 0);
  CHECK(f.sink.complete_one());
  CHECK(f.sink.complete_one());
  CHECK(f.sink.written() == std::vector<std::string>{"a", "b"});
  REQUIRE(f.sink.finishes().size() == 1);
  CHECK(f.sink.finishes()[0].code == CloseCode::ok);
  CHECK(f.sink.stuck_notices() == 0);
}

namespace {

// A subscriber owned by a shared_ptr, as a linger needs, with its timer.
struct LingerFixture {
  explicit LingerFixture(std::chrono::milliseconds fixed)
      : linger({.base = fixed, .max = fixed}),
        subscriber(std::make_shared<Subscriber>(
            1, "ann", SubscriberKind::chat, QueueLimits{}, sink,
            WriteBatching{.max_frames = 10, .max_bytes = 1000, .linger = &linger}, &timer)) {
    sink.bind(subscriber.get());
  }
  void push(const std::string& text) {
    if (subscriber->enqueue(frame(text))) {
      subscriber->flush();
    }
  }
  // Waits, within a bound, for the timer to start the write put off.
  bool wait_for_write(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!sink.write_in_flight() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return sink.write_in_flight();
  }
  AdaptiveLinger linger;
  FlushTimer timer;
  ManualSink sink;
  std::shared_ptr<Subscriber> subscriber;
};

}  // namespace

TEST_CASE("a lingering stream writes a lone frame at once and holds those that follow closely") {
  constexpr auto kLinger = std::chrono::milliseconds(50);
  LingerFixture f(kLinger);
  const auto started = std::chrono::steady_clock::now();
  f.push("a");
  CHECK(f.sink.write_in_flight());
  f.sink.complete_one();
  f.push("b");
  f.push("c");
  CHECK_FALSE(f.sink.write_in_flight());  // put off until a linger after "a"
  REQUIRE(f.wait_for_write());
  CHECK(std::chrono::steady_clock::now() - started >= kLinger);
  f.sink.complete_one();
  CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1, 2});
  CHECK(f.sink.written() == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("with no linger, frames that follow closely wait only for the write in flight") {
  LingerFixture f(std::chrono::milliseconds(0));
  f.push("a");
  CHECK(f.sink.write_in_flight());
  f.push("b");
  f.push("c");
  f.sink.complete_one();
  CHECK(f.sink.write_in_flight());  // the backlog goes at once, as one write
  f.sink.complete_one();
  f.push("d");
  CHECK(f.sink.write_in_flight());
  f.sink.complete_one();
  CHECK(f.sink.write_sizes() == std::vector<std::size_t>{1, 2, 1});
}

TEST_CASE("a stream quiet for a linger writes at once") {
  LingerFixture f(std::chrono::milliseconds(5));
  f.push("a");
  f.sink.complete_one();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  f.push("b");
  CHECK(f.sink.write_in_flight());
}

TEST_CASE("a draining close does not linger") {
  LingerFixture f(std::chrono::seconds(60));
  f.push("a");
  f.sink.complete_one();
  f.push("b");
  CHECK_FALSE(f.sink.write_in_flight());
  f.subscriber->close({CloseCode::unavailable, "relay shutting down"}, true);
  CHECK(f.sink.write_in_flight());
  f.sink.complete_all();
  CHECK(f.sink.written() == std::vector<std::string>{"a", "b"});
  CHECK(f.sink.finishes().size() == 1);
}

TEST_CASE("a lingering stream writes at once when a batch's worth or half its queue is waiting") {
  SUBCASE("a whole batch by frames") {
    LingerFixture f(std::chrono::seconds(60));
    f.push("a");
    f.sink.complete_one();
    for (int i = 0; i < 10; ++i) {
      f.push("m" + std::to_string(i));
    }
    CHECK(f.sink.write_in_flight());
  }
  SUBCASE("half the queue's frame limit") {
    AdaptiveLinger linger({.base = std::chrono::seconds(60), .max = std::chrono::seconds(60)});
    FlushTimer timer;
    ManualSink sink;
    auto subscriber = std::make_shared<Subscriber>(
        1, "ann", SubscriberKind::chat, QueueLimits{.max_frames = 4, .max_bytes = 1000}, sink,
        WriteBatching{.max_frames = 10, .max_bytes = 1000, .linger = &linger}, &timer);
    sink.bind(subscriber.get());
    for (const char* text : {"a", "b"}) {
      if (subscriber->enqueue(frame(text))) {
        subscriber->flush();
      }
      sink.complete_one();
    }
    CHECK_FALSE(sink.write_in_flight());  // "b" waits: one frame of four
    if (subscriber->enqueue(frame("c"))) {
      subscriber->flush();
    }
    CHECK(sink.write_in_flight());  // two of four: written, not left to overflow
    CHECK_FALSE(subscriber->closing());
  }
}

TEST_CASE(
    "a hub's write counters add up over more threads than shards and keep what ended streams "
    "wrote") {
  TextEncoder encoder;
  FakeClock time;
  Hub hub(HubLimits{}, encoder, time.clock());
  {
    Client ann(hub, "ann");
    REQUIRE(hub.join("lobby", ann.subscriber, {}).status == JoinStatus::joined);
    ann.received();
    REQUIRE(hub.leave("lobby", ann.subscriber));
  }
  CHECK(hub.subscriber_stats().open_chat == 0);
  CHECK(hub.subscriber_stats().totals.writes == 1);  // ann's Joined, after ann is gone

  SubscriberCounters counters;
  constexpr int kThreads = 24;
  constexpr int kWrites = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counters] {
      for (int i = 0; i < kWrites; ++i) {
        counters.wrote(2, 10);
        counters.write_took(std::chrono::microseconds(75));
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const SubscriberTotals totals = counters.read();
  constexpr std::uint64_t kAll = kThreads * kWrites;
  CHECK(totals.writes == kAll);
  CHECK(totals.frames_written == 2 * kAll);
  CHECK(totals.bytes_written == 10 * kAll);
  CHECK(totals.write_latency_buckets[1] == kAll);  // 75 µs: the bucket up to 100 µs
  CHECK(totals.write_latency_sum_us == 75 * kAll);
}
