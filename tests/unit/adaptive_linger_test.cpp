#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "relay/hub/adaptive_linger.hpp"
#include "relay/hub/flush_timer.hpp"
#include "relay/hub/subscriber.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using namespace std::chrono_literals;

namespace {

constexpr auto kWindow = 100ms;
const AdaptiveLinger::Clock::time_point kStart{};

AdaptiveLinger::Options options() {
  return {.base = 5ms, .max = 100ms, .saturated_write = 250us, .window = kWindow};
}

// One window in which every write took `took`; returns the linger after it.
std::chrono::microseconds window(AdaptiveLinger& linger, int index,
                                 std::chrono::microseconds took) {
  const auto start = kStart + kWindow * index;
  for (int i = 0; i < 10; ++i) {
    linger.write_completed(took, start + kWindow * i / 10);
  }
  linger.write_completed(took, start + kWindow);  // closes the window
  return linger.current();
}

}  // namespace

TEST_CASE("the linger stays at its base while writes complete quickly") {
  AdaptiveLinger linger(options(), kStart);
  CHECK(linger.current() == 5ms);
  for (int i = 0; i < 5; ++i) {
    CHECK(window(linger, i, 30us) == 5ms);
  }
}

TEST_CASE("the linger doubles each window in which even the fastest write was slow, up to max") {
  AdaptiveLinger linger(options(), kStart);
  CHECK(window(linger, 0, 2ms) == 10ms);
  CHECK(window(linger, 1, 2ms) == 20ms);
  CHECK(window(linger, 2, 2ms) == 40ms);
  CHECK(window(linger, 3, 2ms) == 80ms);
  CHECK(window(linger, 4, 2ms) == 100ms);
  CHECK(window(linger, 5, 2ms) == 100ms);
}

TEST_CASE("one fast write in a window means the relay is not saturated") {
  AdaptiveLinger linger(options(), kStart);
  linger.write_completed(20ms, kStart + 10ms);  // a reader held up by flow control
  linger.write_completed(30us, kStart + 20ms);
  linger.write_completed(20ms, kStart + kWindow);
  CHECK(linger.current() == 5ms);
}

TEST_CASE("the linger falls back by an eighth a window once writes are quick again") {
  AdaptiveLinger linger(options(), kStart);
  int index = 0;
  while (window(linger, index, 2ms) < 100ms) {
    ++index;
  }
  CHECK(window(linger, ++index, 30us) == 87500us);
  CHECK(window(linger, ++index, 30us) == 76563us);
  for (int i = 0; i < 100; ++i) {
    window(linger, ++index, 30us);
  }
  CHECK(linger.current() == 5ms);
}

TEST_CASE("after a pause in writes the linger starts again from its base") {
  AdaptiveLinger linger(options(), kStart);
  window(linger, 0, 2ms);
  window(linger, 1, 2ms);
  REQUIRE(linger.current() == 20ms);
  // Nothing completes for three windows; the next write closes a stale one.
  linger.write_completed(2ms, kStart + kWindow * 5);
  CHECK(linger.current() == 5ms);
}

TEST_CASE("a base of zero lingers only while saturated, from the first step, and back to zero") {
  AdaptiveLinger linger(
      {.base = 0us, .max = 100ms, .first_step = 1ms, .saturated_write = 250us, .window = kWindow},
      kStart);
  CHECK(window(linger, 0, 30us) == 0us);
  CHECK(window(linger, 1, 2ms) == 1ms);
  CHECK(window(linger, 2, 2ms) == 2ms);
  CHECK(window(linger, 3, 2ms) == 4ms);
  int index = 3;
  while (linger.current() > 0us && index < 100) {
    const auto before = linger.current();
    const auto after = window(linger, ++index, 30us);
    CHECK((after == before - before / 8 || after == 0us));
    CHECK((after >= 1ms || after == 0us));
  }
  CHECK(linger.current() == 0us);
  CHECK(index - 3 == 11);  // 4 ms falls below 1 ms in eleven quick windows
}

namespace {

// A linger with no base whose relay's CPU time the test sets; no share: the
// relay's default.
struct CpuFedLinger {
  explicit CpuFedLinger(int cpus, std::optional<double> saturated_share = 0.8)
      : cpus(cpus), linger(fed_options(saturated_share), kStart) {}
  AdaptiveLinger::Options fed_options(std::optional<double> saturated_share) {
    AdaptiveLinger::Options fed{.base = 0us,
                                .max = 100ms,
                                .first_step = 1ms,
                                .window = kWindow,
                                .cpu_time = [this] { return used; },
                                .cpus = cpus};
    if (saturated_share) {
      fed.saturated_cpu_share = *saturated_share;
    }
    return fed;
  }
  // The relay used this share of its CPUs over one window.
  void use(double share) {
    used += std::chrono::duration_cast<std::chrono::nanoseconds>(kWindow * cpus * share);
  }
  // Window `index`, in which the relay used `share` of its CPUs and every
  // write was quick; returns the linger after it.
  std::chrono::microseconds busy_window(int index, double share) {
    use(share);
    return window(linger, index, 30us);
  }
  const int cpus;
  std::chrono::nanoseconds used{0};  // before linger, which reads it as it starts
  AdaptiveLinger linger;
};

}  // namespace

TEST_CASE("a relay using most of its CPUs is saturated however quick its writes") {
  CpuFedLinger fed(2);
  CHECK(fed.busy_window(0, 0.85) == 1ms);
  CHECK(fed.busy_window(1, 0.85) == 2ms);
  CHECK(fed.busy_window(2, 0.85) == 4ms);
  CHECK(fed.busy_window(3, 0.6) == 3500us);  // near saturation: by an eighth
  CHECK(fed.busy_window(4, 0.3) == 1750us);  // clearly idle: by half
  CHECK(fed.busy_window(5, 0.3) == 0us);     // under the first step: none
  CHECK(fed.busy_window(6, 0.79) == 0us);
}

TEST_CASE("a relay near saturation but not saturated stops lingering below the first step") {
  CpuFedLinger fed(1);
  CHECK(fed.busy_window(0, 0.85) == 1ms);
  CHECK(fed.busy_window(1, 0.7) == 0us);
  CHECK(fed.busy_window(2, 0.7) == 0us);
  CHECK(fed.busy_window(3, 0.9) == 1ms);
  CHECK(fed.busy_window(4, 0.9) == 2ms);
  CHECK(fed.busy_window(5, 0.75) == 1750us);
}

TEST_CASE("by default a relay lingers only once it uses 95 % of its CPUs") {
  CpuFedLinger fed(1, std::nullopt);
  CHECK(fed.busy_window(0, 0.9) == 0us);
  CHECK(fed.busy_window(1, 0.94) == 0us);
  CHECK(fed.busy_window(2, 0.97) == 1ms);
  CHECK(fed.busy_window(3, 0.9) == 0us);
}

TEST_CASE("a maximum of zero with a base of zero never lingers, saturated or not") {
  AdaptiveLinger linger({.base = 0us, .max = 0us, .window = kWindow}, kStart);
  CHECK(window(linger, 0, 2ms) == 0us);
  CHECK(window(linger, 1, 2ms) == 0us);
}

// A batching subscriber on a linger that only its writes feed. The window
// is long: a write must complete within the window after the one it
// started in, however late a loaded machine wakes a sleep (a 10 ms window
// failed under ASan when the sleep overshot two of them).
struct TimedSubscriber {
  TimedSubscriber() { sink.bind(subscriber.get()); }
  // Writes what is queued and completes the write 210 ms later, past the end
  // of the window it started in.
  void write_for_210ms() {
    subscriber->flush();
    REQUIRE(sink.write_in_flight());
    std::this_thread::sleep_for(210ms);
    sink.complete_one();
  }
  AdaptiveLinger linger{
      {.base = 0ms, .max = 60s, .first_step = 1ms, .saturated_write = 1ms, .window = 200ms}};
  FlushTimer timer;
  testing::ManualSink sink;
  std::shared_ptr<Subscriber> subscriber = std::make_shared<Subscriber>(
      1, "ann", SubscriberKind::chat, QueueLimits{}, sink,
      WriteBatching{.max_frames = 10, .max_bytes = 1000, .linger = &linger}, &timer);
};

TEST_CASE_FIXTURE(
    TimedSubscriber,
    "a batching subscriber reports how long its writes took and lingers as long as told") {
  auto push = [&](std::string text) {
    if (subscriber->enqueue(std::make_shared<testing::TextFrame>(std::move(text)))) {
      subscriber->flush();
    }
  };
  // A write that takes 210 ms, past the window's end: the window closes with
  // its fastest write at 210 ms, so the linger, not lingering yet, starts.
  REQUIRE(subscriber->enqueue(std::make_shared<testing::TextFrame>("a")));
  write_for_210ms();
  CHECK(linger.current() == 1ms);
  // Saturated for long enough that the linger is far longer than this test.
  for (int i = 0; i < 20; ++i) {
    linger.write_completed(10ms, AdaptiveLinger::Clock::now() + 200ms * (i + 1));
  }
  REQUIRE(linger.current() == 60s);
  push("b");
  CHECK_FALSE(sink.write_in_flight());  // held: its last write started just now
}

TEST_CASE_FIXTURE(
    TimedSubscriber,
    "a write that carries an answer does not say the relay is saturated, however slow") {
  REQUIRE(subscriber->enqueue(std::make_shared<testing::TextFrame>("own message")));
  REQUIRE(subscriber->enqueue_answer(std::make_shared<testing::TextFrame>("ack")));
  write_for_210ms();
  CHECK(linger.current() == 0ms);
  // The same wait without an answer does count: the window closed as above.
  REQUIRE(subscriber->enqueue(std::make_shared<testing::TextFrame>("another")));
  write_for_210ms();
  CHECK(linger.current() == 1ms);
}

TEST_CASE("writes that do not say how long they took end windows on the CPU's word alone") {
  CpuFedLinger fed(1);
  auto window_at_share = [&](int index, double share) {
    fed.use(share);
    fed.linger.write_completed(kStart + kWindow * (index + 1));
    return fed.linger.current();
  };
  CHECK(window_at_share(0, 0.1) == 0us);
  CHECK(window_at_share(1, 0.9) == 1ms);
  CHECK(window_at_share(2, 0.9) == 2ms);
  CHECK(window_at_share(3, 0.1) == 1ms);
  CHECK(window_at_share(4, 0.1) == 0us);
}
