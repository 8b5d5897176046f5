#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "relay/hub/hub.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::Client;
using relay::hub::testing::FakeClock;
using relay::hub::testing::TextEncoder;

namespace {

// "msg ROOM#SEQ bob " and this body make 100 bytes for a one-letter room and
// a one-digit sequence.
const std::string kBody(88, 'x');

struct BudgetFixture {
  static HubLimits limits() {
    HubLimits limits;
    limits.history_total_max_bytes = 1000;
    return limits;
  }
  TextEncoder encoder;
  FakeClock time;
  Hub hub{limits(), encoder, time.clock()};

  // Each message a microsecond after the last, so that "oldest" is exact.
  void say(const std::string& room, int times = 1) {
    for (int i = 0; i < times; ++i) {
      time.now_us += 1;
      hub.publish(room, {"bob", "", kBody});
    }
  }
  std::vector<std::uint64_t> held(const std::string& room) const {
    const auto page = hub.history(room, 0, 1000);
    REQUIRE(page.has_value());
    std::vector<std::uint64_t> sequences;
    for (const auto& message : page->messages) {
      sequences.push_back(message->sequence);
    }
    return sequences;
  }
  std::uint64_t epoch(const std::string& room) const { return hub.history(room, 0, 0)->epoch; }
};

using Sequences = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE_FIXTURE(BudgetFixture,
                  "past the history budget the oldest messages of all rooms go first") {
  say("a", 4);
  say("b", 4);
  say("c", 2);
  CHECK(hub.stats().history_bytes == 1000);  // at the budget is not past it
  CHECK(hub.stats().messages_evicted_by_history_budget == 0);

  say("c");
  CHECK(hub.stats().history_bytes == 900);  // 90% of the budget
  CHECK(hub.stats().messages_evicted_by_history_budget == 2);
  CHECK(held("a") == Sequences{3, 4});
  CHECK(held("b") == Sequences{1, 2, 3, 4});
  CHECK(held("c") == Sequences{1, 2, 3});

  say("c", 2);
  CHECK(held("a").empty());
  CHECK(held("b") == Sequences{1, 2, 3, 4});
  CHECK(hub.stats().history_bytes == 900);
  CHECK(hub.stats().messages_evicted_by_history_budget == 4);
}

TEST_CASE_FIXTURE(BudgetFixture,
                  "a step back of the wall clock does not make the budget evict the newest") {
  say("a", 4);
  time.wall_step_us = -3'600'000'000;  // NTP sets the wall clock an hour back
  say("b", 7);
  CHECK(held("a") == Sequences{3, 4});
  CHECK(held("b") == Sequences{1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE_FIXTURE(BudgetFixture, "a flood costs its own old messages before others' newer ones") {
  say("f", 9);
  say("q");
  say("f", 5);  // sequences above 9 take a byte more each
  CHECK(held("q") == Sequences{1});
  CHECK(held("f").front() > 6);
  CHECK(held("f").back() == 14);
  CHECK(hub.stats().history_bytes <= 1000);
}

TEST_CASE_FIXTURE(BudgetFixture, "a join after the budget evicted messages counts them as missed") {
  say("a", 4);
  say("b", 7);  // evicts a#1 and a#2
  REQUIRE(held("a") == Sequences{3, 4});
  CHECK(hub.history("a", 0, 10)->missed == 2);
  Client ann(hub, "ann");

  SUBCASE("resume before the eviction") {
    const auto outcome = hub.join("a", ann.subscriber, {.resume = Position{epoch("a"), 0}});
    CHECK(outcome.summary.replayed == 2);
    CHECK(outcome.summary.missed == 2);
    CHECK(ann.received("msg").front() == "msg a#3 bob " + kBody);
  }
  SUBCASE("resume within the evicted part") {
    const auto outcome = hub.join("a", ann.subscriber, {.resume = Position{epoch("a"), 1}});
    CHECK(outcome.summary.replayed == 2);
    CHECK(outcome.summary.missed == 1);
  }
  SUBCASE("everything evicted") {
    say("b", 2);  // evicts a#3 and a#4
    REQUIRE(held("a").empty());
    const auto outcome = hub.join("a", ann.subscriber, {.resume = Position{epoch("a"), 1}});
    CHECK(outcome.summary.replayed == 0);
    CHECK(outcome.summary.missed == 3);
    CHECK(hub.history("a", 1, 10)->missed == 3);
  }
}

TEST_CASE_FIXTURE(BudgetFixture,
                  "a room the budget emptied keeps its numbering and duplicate window when left") {
  Client ann(hub, "ann");
  REQUIRE(hub.join("a", ann.subscriber, {}).status == JoinStatus::joined);
  time.now_us += 1;
  const PublishResult first = hub.publish("a", {"ann", "ann-1", kBody});
  say("b", 11);  // evicts all of a's history
  REQUIRE(held("a").empty());
  REQUIRE(hub.leave("a", ann.subscriber));
  // Still there: a resend after a reconnect is recognised, not delivered twice.
  const PublishResult resent = hub.publish("a", {"ann", "ann-1", kBody});
  CHECK(resent.duplicate);
  CHECK(resent.epoch == first.epoch);
  CHECK(resent.sequence == first.sequence);
}

TEST_CASE("publishers racing past the history budget keep the count exact and the total bounded") {
  constexpr std::size_t kBudget = 20'000;
  constexpr int kThreads = 4;
  constexpr int kPublishesEach = 1000;
  TextEncoder encoder;
  std::atomic<std::int64_t> now_us{1'000'000};
  HubLimits limits;
  limits.history_total_max_bytes = kBudget;
  limits.room_idle_ttl_us = 1'000'000;
  Hub hub(limits, encoder, [&] {
    const std::int64_t now = now_us.fetch_add(1);
    return HubTime{now, now};
  });

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPublishesEach; ++i) {
        // A room of its own and two shared by all.
        const std::string room =
            i % 3 == 0 ? "own" + std::to_string(t) : "shared" + std::to_string(i % 2);
        hub.publish(room, {"bob", "", kBody});
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }

  const auto stats = hub.stats();
  CHECK(stats.history_bytes <= kBudget);
  CHECK(stats.messages_evicted_by_history_budget > 0);
  std::size_t bytes = 0;
  for (const auto& info : hub.list_rooms()) {
    const auto page = hub.history(info.room, 0, 1000).value();
    // What is held is still the newest run of the room, and the rest missed.
    if (!page.messages.empty()) {
      CHECK(page.messages.back()->sequence == info.sequence);
      CHECK(page.missed == page.messages.front()->sequence - 1);
    } else {
      CHECK(page.missed == info.sequence);
    }
    for (const auto& message : page.messages) {
      bytes += message->frame->size_bytes();
    }
  }
  CHECK(bytes == stats.history_bytes);

  now_us += limits.room_idle_ttl_us;
  CHECK(hub.sweep() == kThreads + 2);
  CHECK(hub.stats().history_bytes == 0);
}

namespace {

// Histories that keep messages for a minute.
struct AgeFixture {
  static HubLimits limits() {
    HubLimits limits;
    limits.history_max_age_us = 60'000'000;
    return limits;
  }
  TextEncoder encoder;
  FakeClock time;
  Hub hub{limits(), encoder, time.clock()};
};

}  // namespace

TEST_CASE_FIXTURE(AgeFixture,
                  "messages older than the history's age limit leave it at the next sweep") {
  hub.publish("lobby", {"ann", "", "old"});
  time.now_us += 50'000'000;
  hub.publish("lobby", {"ann", "", "new"});
  time.now_us += 20'000'000;
  hub.sweep();
  const auto page = hub.history("lobby", 0, 10);
  REQUIRE(page);
  REQUIRE(page->messages.size() == 1);
  CHECK(page->messages[0]->sequence == 2);
  CHECK(page->missed == 1);
  CHECK(hub.stats().messages_expired_by_age == 1);
}

TEST_CASE_FIXTURE(AgeFixture,
                  "a step of the wall clock neither ages the history nor keeps it young") {
  hub.publish("lobby", {"ann", "", "kept"});
  time.wall_step_us = 3'600'000'000;  // an hour forward
  hub.sweep();
  CHECK(hub.history("lobby", 0, 10)->messages.size() == 1);
  time.wall_step_us = -3'600'000'000;  // an hour back
  time.now_us += 61'000'000;
  hub.sweep();
  CHECK(hub.history("lobby", 0, 10)->messages.empty());
  CHECK(hub.stats().messages_expired_by_age == 1);
}
