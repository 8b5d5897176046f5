#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
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

HubLimits few_rooms() {
  HubLimits limits;
  limits.max_rooms = 3;
  limits.room_idle_ttl_us = 10'000'000;
  return limits;
}

bool is_member(const Hub& hub, const std::string& room, const std::string& user) {
  const auto members = hub.members(room);
  return members && std::any_of(members->members.begin(), members->members.end(),
                                [&](const MemberInfo& m) { return m.user == user; });
}

}  // namespace

TEST_CASE("rooms left empty and without history go at once, so new names never fill the hub") {
  TextEncoder encoder;
  FakeClock time;
  Hub hub(few_rooms(), encoder, time.clock());
  Client ann(hub, "ann", SubscriberKind::chat), follower(hub, "", SubscriberKind::follow);
  SUBCASE("chat streams") {
    for (int i = 0; i < 1000; ++i) {
      const std::string room = "room-" + std::to_string(i);
      REQUIRE(hub.join(room, ann.subscriber, {}).status == JoinStatus::joined);
      REQUIRE(hub.leave(room, ann.subscriber));
    }
  }
  SUBCASE("follow streams") {
    for (int i = 0; i < 1000; ++i) {
      const std::string room = "room-" + std::to_string(i);
      REQUIRE(hub.join(room, follower.subscriber, {}).status == JoinStatus::joined);
      REQUIRE(hub.leave(room, follower.subscriber));
    }
  }
  CHECK(hub.list_rooms().empty());
  CHECK(hub.stats().rooms == 0);
  CHECK(hub.stats().rooms_removed == 1000);
  CHECK(hub.stats().rooms_removed_when_left_empty == 1000);

  Client bob(hub, "bob");
  CHECK(hub.join("bobs-room", bob.subscriber, {}).status == JoinStatus::joined);
}

TEST_CASE("a room stays while anyone is in it, chat or follow") {
  TextEncoder encoder;
  Hub hub(few_rooms(), encoder);
  Client ann(hub, "ann"), follower(hub, "", SubscriberKind::follow);
  hub.join("r", ann.subscriber, {});
  hub.join("r", follower.subscriber, {});
  hub.leave("r", ann.subscriber);
  REQUIRE(hub.list_rooms().size() == 1);
  CHECK(hub.list_rooms()[0].subscribers == 1);
  hub.leave("r", follower.subscriber);
  CHECK(hub.list_rooms().empty());
}

TEST_CASE("a room with history outlives its last leave until the idle sweep") {
  TextEncoder encoder;
  FakeClock time;
  Hub hub(few_rooms(), encoder, time.clock());
  Client ann(hub, "ann");
  hub.join("r", ann.subscriber, {});
  hub.publish("r", {"ann", "", "kept"});
  hub.leave("r", ann.subscriber);
  REQUIRE(hub.list_rooms().size() == 1);
  CHECK(hub.list_rooms()[0].history_messages == 1);
  CHECK(hub.stats().rooms_removed == 0);

  time.now_us += few_rooms().room_idle_ttl_us;
  CHECK(hub.sweep() == 1);
  CHECK(hub.list_rooms().empty());
  CHECK(hub.stats().rooms_removed == 1);
  CHECK(hub.stats().rooms_removed_when_left_empty == 0);
}

TEST_CASE("joins, leaves and publishes racing on the same rooms lose no member and no room") {
  // Churners join and leave the same three rooms, so that leaves remove
  // rooms while other joins are about to enter them: room-0 keeps a steady
  // member, room-1 gets a history half way (publishes racing the leaves that
  // remove it), room-2 comes and goes.
  constexpr int kChurners = 4;
  constexpr int kRounds = 20000;
  constexpr int kNames = 3;
  TextEncoder encoder;
  HubLimits limits;
  limits.max_rooms = kNames;
  // steady never reads: its queue takes every presence frame of the test.
  limits.queue.max_frames = 1 << 20;
  Hub hub(limits, encoder);
  auto name = [](int i) { return "room-" + std::to_string(i % kNames); };

  Client steady(hub, "steady");
  REQUIRE(hub.join(name(0), steady.subscriber, {.presence = true}).status == JoinStatus::joined);

  std::atomic<int> lost{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kChurners; ++c) {
    threads.emplace_back([&, c] {
      const std::string user = "churn" + std::to_string(c);
      Client client(hub, user, c % 2 == 0 ? SubscriberKind::chat : SubscriberKind::follow);
      for (int i = 0; i < kRounds; ++i) {
        const std::string room = name(i + c);
        // Half of them ask for presence, so that leaves move both kinds of seat.
        if (hub.join(room, client.subscriber, {.presence = c < kChurners / 2}).status !=
            JoinStatus::joined) {
          refused.fetch_add(1);
          continue;
        }
        // A follower is counted, not named.
        if (client.subscriber->kind() == SubscriberKind::chat && !is_member(hub, room, user)) {
          lost.fetch_add(1);
        }
        client.sink.complete_all();
        if (!hub.leave(room, client.subscriber)) {
          lost.fetch_add(1);
        }
        if (i == kRounds / 2 + c) {
          hub.publish(name(1), {user, "", "x"});
        }
      }
      client.sink.complete_all();
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }

  CHECK(lost.load() == 0);
  CHECK(refused.load() == 0);
  const auto rooms = hub.list_rooms();
  const auto stats = hub.stats();
  CHECK(stats.rooms == rooms.size());
  CHECK(stats.rooms_created - stats.rooms_removed == rooms.size());
  std::vector<std::string> names;
  for (const auto& info : rooms) {
    names.push_back(info.room);
    CHECK(info.subscribers == (info.room == name(0) ? 1U : 0U));
    CHECK((info.room == name(0) || info.history_messages > 0));
  }
  CHECK(names == std::vector<std::string>{name(0), name(1)});
  CHECK(is_member(hub, name(0), "steady"));
}

TEST_CASE("a join refused on a room it created leaves no room behind") {
  TextEncoder encoder;
  FakeClock time;
  Hub hub(few_rooms(), encoder, time.clock());
  Client closing(hub, "closing", SubscriberKind::chat);
  closing.subscriber->close({CloseCode::cancelled, "gone"}, false);
  for (int i = 0; i < 10; ++i) {
    CHECK(hub.join("room-" + std::to_string(i), closing.subscriber, {}).status ==
          JoinStatus::subscriber_closed);
  }
  CHECK(hub.list_rooms().empty());
  CHECK(hub.stats().rooms == 0);
  // The room places are free for others.
  Client bob(hub, "bob");
  for (int i = 0; i < 3; ++i) {
    CHECK(hub.join("bob-" + std::to_string(i), bob.subscriber, {}).status == JoinStatus::joined);
  }
}

TEST_CASE(
    "a sweep gives back the queue room of a stream idle since the last sweep, not a busy one's") {
  TextEncoder encoder;
  FakeClock time;
  Hub hub(HubLimits{}, encoder, time.clock());
  Client ann(hub, "ann"), bob(hub, "bob");
  REQUIRE(hub.join("busy", ann.subscriber, {}).status == JoinStatus::joined);
  REQUIRE(hub.join("quiet", bob.subscriber, {}).status == JoinStatus::joined);
  ann.received();
  const std::size_t bob_frames = bob.received().size();
  CHECK(ann.subscriber->queue_slots() == 1);
  CHECK(bob.subscriber->queue_slots() == 1);
  hub.sweep();  // both wrote their Joined since the hub began
  CHECK(bob.subscriber->queue_slots() == 1);
  hub.publish("busy", {"ann", "", "still here"});
  ann.received();
  hub.sweep();
  CHECK(ann.subscriber->queue_slots() == 1);
  CHECK(bob.subscriber->queue_slots() == 0);
  hub.publish("quiet", {"bob", "", "back"});
  CHECK(bob.received().size() == bob_frames + 1);
}
