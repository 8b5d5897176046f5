#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <thread>

#include "relay/hub/hub.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::Client;
using relay::hub::testing::FakeClock;
using relay::hub::testing::TextEncoder;

namespace {

HubLimits small_limits() {
  HubLimits limits;
  limits.room.history = {.max_messages = 5, .max_bytes = 100000};
  limits.room.duplicates = {.window_us = 60'000'000, .max_ids = 100};
  limits.queue = {.max_frames = 50, .max_bytes = 100000};
  limits.room_idle_ttl_us = 10'000'000;
  return limits;
}

struct HubFixture {
  TextEncoder encoder;
  FakeClock time;
  Hub hub{small_limits(), encoder, time.clock()};

  PublishResult say(const std::string& room, const std::string& sender, const std::string& body,
                    const std::string& id = "") {
    return hub.publish(room, {sender, id, body});
  }
};

}  // namespace

TEST_CASE_FIXTURE(HubFixture,
                  "every subscriber of a room, the sender included, gets every message in order") {
  Client ann(hub, "ann"), bob(hub, "bob"), other(hub, "cy");
  REQUIRE(hub.join("lobby", ann.subscriber, {}).status == JoinStatus::joined);
  REQUIRE(hub.join("lobby", bob.subscriber, {}).status == JoinStatus::joined);
  REQUIRE(hub.join("elsewhere", other.subscriber, {}).status == JoinStatus::joined);

  CHECK(say("lobby", "ann", "hello").sequence == 1);
  CHECK(say("lobby", "bob", "hi").sequence == 2);
  CHECK(say("lobby", "ann", "how are you").sequence == 3);

  const std::vector<std::string> expected{"msg lobby#1 ann hello", "msg lobby#2 bob hi",
                                          "msg lobby#3 ann how are you"};
  CHECK(ann.received("msg") == expected);
  CHECK(bob.received("msg") == expected);
  CHECK(other.received("msg").empty());
}

TEST_CASE_FIXTURE(HubFixture, "each message is encoded once whatever the number of subscribers") {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<Client>(hub, "u" + std::to_string(i)));
    hub.join("big", clients.back()->subscriber, {});
  }
  say("big", "u0", "one");
  say("big", "u1", "two");
  CHECK(encoder.messages_encoded == 2);
  for (auto& client : clients) {
    CHECK(client->received("msg").size() == 2);
  }
}

TEST_CASE_FIXTURE(HubFixture,
                  "presence goes only to the streams that asked for it, once per user") {
  Client ann(hub, "ann"), cy(hub, "cy"), bob(hub, "bob"), bob_again(hub, "bob"),
      follower(hub, "", SubscriberKind::follow), watcher(hub, "", SubscriberKind::follow);
  hub.join("r", ann.subscriber, {.presence = true});
  hub.join("r", watcher.subscriber, {.presence = true});
  hub.join("r", cy.subscriber, {});
  hub.join("r", follower.subscriber, {});
  hub.join("r", bob.subscriber, {});
  hub.join("r", bob_again.subscriber, {.presence = true});
  hub.leave("r", bob.subscriber);
  const std::vector<std::string> joins{"presence r cy joined", "presence r bob joined"};
  CHECK(ann.received("presence") == joins);
  hub.leave("r", bob_again.subscriber);
  const std::vector<std::string> joins_and_leave{"presence r cy joined", "presence r bob joined",
                                                 "presence r bob left"};
  CHECK(ann.received("presence") == joins_and_leave);
  // A follower that asks is told too; followers themselves are never announced.
  CHECK(watcher.received("presence") == joins_and_leave);
  CHECK(cy.received("presence").empty());
  CHECK(follower.received("presence").empty());
  // Nor is a stream told of its own user.
  CHECK(bob_again.received("presence").empty());
}

TEST_CASE_FIXTURE(HubFixture, "Joined counts the distinct users in the room, followers apart") {
  Client ann(hub, "ann"), bob(hub, "bob"), bob_again(hub, "bob"), cy(hub, "cy"),
      follower(hub, "", SubscriberKind::follow);
  const auto members_at_join = [&](Client& client) {
    const auto outcome = hub.join("r", client.subscriber, {});
    REQUIRE(outcome.status == JoinStatus::joined);
    return outcome.summary.members;
  };
  CHECK(members_at_join(ann) == 1);
  CHECK(members_at_join(bob) == 2);
  CHECK(members_at_join(bob_again) == 2);
  CHECK(members_at_join(follower) == 2);
  hub.leave("r", bob.subscriber);
  hub.leave("r", bob_again.subscriber);
  CHECK(members_at_join(cy) == 2);
  const auto members = hub.members("r");
  REQUIRE(members.has_value());
  CHECK(members->members.size() == 2);
  CHECK(members->followers == 1);
}

TEST_CASE_FIXTURE(HubFixture,
                  "a join queues nothing for members that did not ask for presence, and "
                  "encodes its presence once for those that did") {
  constexpr int kQuietMembers = 1000;
  constexpr int kWatchers = 10;
  std::vector<std::unique_ptr<Client>> quiet;
  std::vector<std::unique_ptr<Client>> watchers;
  for (int i = 0; i < kQuietMembers; ++i) {
    quiet.push_back(std::make_unique<Client>(hub, "quiet" + std::to_string(i)));
    REQUIRE(hub.join("big", quiet.back()->subscriber, {}).status == JoinStatus::joined);
  }
  CHECK(encoder.presences_encoded == 0);
  for (int i = 0; i < kWatchers; ++i) {
    watchers.push_back(std::make_unique<Client>(hub, "watcher" + std::to_string(i)));
    REQUIRE(hub.join("big", watchers.back()->subscriber, {.presence = true}).status ==
            JoinStatus::joined);
  }
  // Each quiet member's Joined is in its write in flight, which the test
  // never completes: whatever a join queues for it would stay queued.
  const auto nothing_queued_for_quiet = [&] {
    return std::all_of(quiet.begin(), quiet.end(),
                       [](const auto& client) { return client->subscriber->queued_frames() == 0; });
  };
  REQUIRE(nothing_queued_for_quiet());
  const int presences_before = encoder.presences_encoded;

  Client newcomer(hub, "newcomer");
  REQUIRE(hub.join("big", newcomer.subscriber, {}).status == JoinStatus::joined);
  CHECK(nothing_queued_for_quiet());
  CHECK(encoder.presences_encoded == presences_before + 1);
  for (const auto& watcher : watchers) {
    CHECK(watcher->received("presence").back() == "presence big newcomer joined");
  }

  REQUIRE(hub.leave("big", newcomer.subscriber));
  CHECK(nothing_queued_for_quiet());
  CHECK(encoder.presences_encoded == presences_before + 2);
  for (const auto& watcher : watchers) {
    CHECK(watcher->received("presence").back() == "presence big newcomer left");
  }
}

TEST_CASE_FIXTURE(HubFixture, "members leaving in any order leave the others' deliveries whole") {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<Client>(hub, "u" + std::to_string(i)));
    // Every other one asks for presence.
    hub.join("r", clients.back()->subscriber, {.presence = i % 2 == 1});
  }
  // From the middle, the first, the last: each moves another into its place.
  for (const int leaving : {2, 0, 5}) {
    REQUIRE(hub.leave("r", clients[leaving]->subscriber));
  }
  say("r", "someone", "still here");
  Client late(hub, "late");
  hub.join("r", late.subscriber, {});
  for (const int staying : {1, 3, 4}) {
    CHECK(clients[staying]->received("msg") ==
          std::vector<std::string>{"msg r#1 someone still here"});
    const auto presence = clients[staying]->received("presence");
    const bool asked = staying % 2 == 1;
    CHECK((!presence.empty() && presence.back() == "presence r late joined") == asked);
    CHECK(presence.empty() != asked);
  }
  for (const int left : {0, 2, 5}) {
    CHECK(clients[left]->received("msg").empty());
  }
  const auto members = hub.members("r");
  REQUIRE(members.has_value());
  CHECK(members->members.size() == 4);
}

TEST_CASE_FIXTURE(HubFixture, "leaving a room stops delivery") {
  Client ann(hub, "ann");
  hub.join("r", ann.subscriber, {});
  say("r", "bob", "before");
  CHECK(hub.leave("r", ann.subscriber));
  CHECK_FALSE(hub.leave("r", ann.subscriber));
  say("r", "bob", "after");
  CHECK(ann.received("msg") == std::vector<std::string>{"msg r#1 bob before"});
}

TEST_CASE_FIXTURE(HubFixture, "joining twice on one stream is refused") {
  Client ann(hub, "ann");
  hub.join("r", ann.subscriber, {});
  CHECK(hub.join("r", ann.subscriber, {}).status == JoinStatus::already_joined);
}

TEST_CASE_FIXTURE(HubFixture, "room replays history after the resume point, then goes live") {
  for (int i = 1; i <= 4; ++i) {
    say("r", "bob", "m" + std::to_string(i));
  }
  Client ann(hub, "ann");
  const auto epoch = hub.list_rooms().at(0).epoch;

  SUBCASE("resume within history: no gap, no duplicate") {
    const auto outcome = hub.join("r", ann.subscriber, {.resume = Position{epoch, 2}});
    CHECK(outcome.summary.replayed == 2);
    CHECK(outcome.summary.missed == 0);
    CHECK_FALSE(outcome.summary.epoch_changed);
    say("r", "bob", "m5");
    CHECK(ann.received("msg") ==
          std::vector<std::string>{"msg r#3 bob m3", "msg r#4 bob m4", "msg r#5 bob m5"});
    CHECK(ann.received().front() == "joined r seq=4 replayed=2 missed=0 epoch_changed=0");
  }
  SUBCASE("resume older than history: replay what is held, count the rest as missed") {
    for (int i = 5; i <= 8; ++i) {
      say("r", "bob", "m" + std::to_string(i));
    }
    const auto outcome = hub.join("r", ann.subscriber, {.resume = Position{epoch, 1}});
    CHECK(outcome.summary.replayed == 5);  // 4..8
    CHECK(outcome.summary.missed == 2);    // 2 and 3
  }
  SUBCASE("resume from another epoch replays the current epoch from its start") {
    const auto outcome = hub.join("r", ann.subscriber, {.resume = Position{epoch - 1, 3}});
    CHECK(outcome.summary.epoch_changed);
    CHECK(outcome.summary.replayed == 4);
    CHECK(ann.received("msg").front() == "msg r#1 bob m1");
  }
  SUBCASE("resume from epoch 0, nothing seen yet, replays the whole history") {
    const auto outcome = hub.join("r", ann.subscriber, {.resume = Position{0, 0}});
    CHECK_FALSE(outcome.summary.epoch_changed);
    CHECK(outcome.summary.replayed == 4);
    CHECK(outcome.summary.missed == 0);
    CHECK(ann.received("msg").front() == "msg r#1 bob m1");
  }
  SUBCASE("resume ahead of the room is refused") {
    CHECK(hub.join("r", ann.subscriber, {.resume = Position{epoch, 9}}).status ==
          JoinStatus::resume_ahead);
  }
  SUBCASE("no resume position: live only") {
    const auto outcome = hub.join("r", ann.subscriber, {});
    CHECK(outcome.summary.replayed == 0);
    CHECK(ann.received("msg").empty());
  }
}

TEST_CASE_FIXTURE(HubFixture, "a publish racing a resuming join is seen exactly once") {
  // Repeated so that the join lands before, between and after the publishes.
  for (int round = 0; round < 200; ++round) {
    const std::string room = "race" + std::to_string(round);
    const auto epoch = say(room, "bob", "first").epoch;
    Client ann(hub, "ann");
    std::thread publisher([&] {
      for (int i = 0; i < 3; ++i) {
        say(room, "bob", "x");
      }
    });
    hub.join(room, ann.subscriber, {.resume = Position{epoch, 1}});
    publisher.join();
    const auto got = ann.received("msg");
    REQUIRE(got.size() == 3);
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i] == "msg " + room + "#" + std::to_string(i + 2) + " bob x");
    }
    hub.leave(room, ann.subscriber);
  }
}

TEST_CASE_FIXTURE(
    HubFixture,
    "a repeated client message id is acknowledged with its first sequence, not delivered") {
  Client ann(hub, "ann");
  hub.join("r", ann.subscriber, {});
  const auto first = say("r", "bob", "hello", "id-1");
  const auto again = say("r", "bob", "hello", "id-1");
  CHECK_FALSE(first.duplicate);
  CHECK(again.duplicate);
  CHECK(again.sequence == first.sequence);
  CHECK(say("r", "cy", "same id, other sender", "id-1").sequence == 2);
  CHECK(ann.received("msg").size() == 2);
  CHECK(hub.stats().duplicates_acknowledged == 1);

  SUBCASE("outside the window it is a new message") {
    time.now_us += 61'000'000;
    CHECK_FALSE(say("r", "bob", "hello", "id-1").duplicate);
  }
  SUBCASE("a step of the wall clock does not end the window") {
    time.wall_step_us += 3'600'000'000;
    CHECK(say("r", "bob", "hello", "id-1").duplicate);
  }
}

TEST_CASE_FIXTURE(HubFixture, "a slow consumer is closed and the others never wait for it") {
  Client slow(hub, "slow"), fast(hub, "fast");
  hub.join("r", slow.subscriber, {});
  hub.join("r", fast.subscriber, {});
  for (int i = 0; i < 200; ++i) {
    say("r", "bob", std::to_string(i));
    fast.sink.complete_all();
  }
  CHECK(fast.received("msg").size() == 200);
  CHECK(slow.subscriber->closing());
  slow.sink.complete_all();
  REQUIRE(slow.sink.finishes().size() == 1);
  CHECK(slow.sink.finishes()[0].code == CloseCode::resource_exhausted);
}

TEST_CASE_FIXTURE(HubFixture,
                  "a step of the wall clock moves message times but not a room's idle time") {
  Client ann(hub, "ann");
  hub.join("r", ann.subscriber, {});
  say("r", "ann", "before");
  const std::int64_t before = encoder.last_server_time_us;
  hub.leave("r", ann.subscriber);
  time.wall_step_us += 3'600'000'000;
  CHECK(hub.sweep() == 0);
  say("r", "ann", "after");
  CHECK(encoder.last_server_time_us - before == 3'600'000'000);
  time.now_us += 11'000'000;
  CHECK(hub.sweep() == 1);
}

TEST_CASE_FIXTURE(HubFixture,
                  "an empty room is removed once idle, and recreated with a new epoch") {
  Client ann(hub, "ann");
  hub.join("r", ann.subscriber, {});
  say("r", "ann", "x");
  const auto old_epoch = hub.list_rooms().at(0).epoch;
  time.now_us += 60'000'000;
  CHECK(hub.sweep() == 0);  // still has a member
  hub.leave("r", ann.subscriber);
  CHECK(hub.sweep() == 0);  // just became empty
  time.now_us += 11'000'000;
  CHECK(hub.sweep() == 1);
  CHECK(hub.list_rooms().empty());
  CHECK_FALSE(hub.history("r", 0, 10).has_value());

  say("r", "ann", "y");
  const auto room = hub.list_rooms().at(0);
  CHECK(room.epoch != old_epoch);
  CHECK(room.sequence == 1);
}

TEST_CASE_FIXTURE(HubFixture,
                  "an idle room stays while its duplicate window remembers an id, for the resend") {
  const PublishResult first = say("r", "ann", "x", "ann-1");
  time.now_us += 11'000'000;  // past the idle TTL, within the 60 s window
  CHECK(hub.sweep() == 0);
  const PublishResult resent = say("r", "ann", "x", "ann-1");
  CHECK(resent.duplicate);
  CHECK(resent.epoch == first.epoch);
  CHECK(resent.sequence == first.sequence);
  time.now_us += 61'000'000;  // the window forgot it
  CHECK(hub.sweep() == 1);
}

TEST_CASE_FIXTURE(HubFixture, "queries report rooms, history and members") {
  Client ann(hub, "ann"), bob(hub, "bob"), follower(hub, "", SubscriberKind::follow);
  hub.join("b-room", ann.subscriber, {});
  hub.join("a-room", bob.subscriber, {});
  hub.join("a-room", follower.subscriber, {});
  for (int i = 1; i <= 7; ++i) {
    say("a-room", "bob", std::to_string(i));
  }
  const auto rooms = hub.list_rooms();
  REQUIRE(rooms.size() == 2);
  CHECK(rooms[0].room == "a-room");
  CHECK(rooms[0].sequence == 7);
  CHECK(rooms[0].subscribers == 2);
  CHECK(rooms[0].history_messages == 5);

  const auto page = hub.history("a-room", 0, 3);
  REQUIRE(page.has_value());
  CHECK(page->missed == 2);
  REQUIRE(page->messages.size() == 3);
  CHECK(page->messages[0]->sequence == 3);
  CHECK(testing::text_of(page->messages[0]->frame) == "msg a-room#3 bob 3");
  for (const std::uint64_t after :
       {std::uint64_t{7}, std::uint64_t{1000}, std::numeric_limits<std::uint64_t>::max()}) {
    CAPTURE(after);
    const auto beyond = hub.history("a-room", after, 3);
    REQUIRE(beyond.has_value());
    CHECK(beyond->missed == 0);
    CHECK(beyond->messages.empty());
  }

  const auto members = hub.members("a-room");
  REQUIRE(members.has_value());
  REQUIRE(members->members.size() == 1);
  CHECK(members->members[0].user == "bob");
  CHECK(members->followers == 1);
  CHECK_FALSE(hub.members("nowhere").has_value());
}

TEST_CASE("a duplicate window of 0 turns duplicate detection off") {
  TextEncoder encoder;
  HubLimits limits = small_limits();
  limits.room.duplicates.window_us = 0;
  Hub hub(limits, encoder);
  CHECK_FALSE(hub.publish("r", {"bob", "id-1", "a"}).duplicate);
  CHECK_FALSE(hub.publish("r", {"bob", "id-1", "a"}).duplicate);
}

TEST_CASE_FIXTURE(HubFixture,
                  "a slow consumer leaves every room at once, announced to the others") {
  Client slow(hub, "slow"), fast(hub, "fast");
  for (const char* room : {"r", "s"}) {
    hub.join(room, fast.subscriber, {.presence = true});
    hub.join(room, slow.subscriber, {});
  }
  // slow's first write never completes, so its queue overflows in room r.
  for (int i = 0; i < 60; ++i) {
    say("r", "bob", std::to_string(i));
    fast.sink.complete_all();
  }
  REQUIRE(slow.subscriber->closing());
  for (const char* room : {"r", "s"}) {
    const auto members = hub.members(room);
    REQUIRE(members.has_value());
    REQUIRE(members->members.size() == 1);
    CHECK(members->members[0].user == "fast");
  }
  CHECK(fast.received("presence") ==
        std::vector<std::string>{"presence r slow joined", "presence s slow joined",
                                 "presence r slow left", "presence s slow left"});
  CHECK(slow.subscriber->rooms().empty());
  CHECK(hub.join("t", slow.subscriber, {}).status == JoinStatus::subscriber_closed);
}

TEST_CASE("the hub holds at most max_rooms rooms, and existing rooms go on") {
  TextEncoder encoder;
  HubLimits limits = small_limits();
  limits.max_rooms = 2;
  Hub hub(limits, encoder);
  Client ann(hub, "ann");
  CHECK(hub.join("a", ann.subscriber, {}).status == JoinStatus::joined);
  CHECK_FALSE(hub.publish("b", {"bob", "", "x"}).too_many_rooms);
  CHECK(hub.join("c", ann.subscriber, {}).status == JoinStatus::too_many_rooms);
  CHECK(hub.publish("c", {"bob", "", "x"}).too_many_rooms);
  CHECK(hub.publish("a", {"bob", "", "y"}).sequence == 1);
  CHECK(hub.list_rooms().size() == 2);
}

TEST_CASE_FIXTURE(HubFixture, "a stream closed outside any room is taken out of all of them") {
  Client ann(hub, "ann"), bob(hub, "bob");
  for (const char* room : {"r", "s"}) {
    hub.join(room, ann.subscriber, {.presence = true});
    hub.join(room, bob.subscriber, {});
  }
  // As the service does when a frame of its own finds the stream closing.
  bob.subscriber->close({CloseCode::cancelled, "gone"}, false);
  REQUIRE(bob.subscriber->flush());
  hub.remove_from_rooms(bob.subscriber);
  for (const char* room : {"r", "s"}) {
    const auto members = hub.members(room);
    REQUIRE(members.has_value());
    REQUIRE(members->members.size() == 1);
    CHECK(members->members[0].user == "ann");
  }
  CHECK(bob.subscriber->rooms().empty());
  CHECK(ann.received("presence").back() == "presence s bob left");
}

TEST_CASE_FIXTURE(HubFixture,
                  "writes a thread defers start when its last DeferredWrites ends, together") {
  Client ann(hub, "ann"), bob(hub, "bob");
  REQUIRE(hub.join("lobby", ann.subscriber, {}).status == JoinStatus::joined);
  REQUIRE(hub.join("lobby", bob.subscriber, {}).status == JoinStatus::joined);
  ann.received();
  bob.received();
  const std::size_t writes_before = bob.sink.more_follows().size();
  {
    const Hub::DeferredWrites outer(hub);
    {
      const Hub::DeferredWrites inner(hub);
      CHECK(say("lobby", "ann", "one").sequence == 1);
    }
    CHECK(say("lobby", "ann", "two").sequence == 2);
    CHECK_FALSE(bob.sink.write_in_flight());
    CHECK_FALSE(ann.sink.write_in_flight());
  }
  // Both frames were queued before the first write started, so it says that
  // another follows: the two leave the transport together.
  REQUIRE(bob.sink.write_in_flight());
  CHECK(bob.sink.more_follows().at(writes_before));
  const std::vector<std::string> expected{"msg lobby#1 ann one", "msg lobby#2 ann two"};
  CHECK(bob.received("msg") == expected);
  CHECK(ann.received("msg") == expected);

  // Without one, each publish starts its write at once.
  CHECK(say("lobby", "ann", "three").sequence == 3);
  CHECK(bob.sink.write_in_flight());
  CHECK(bob.sink.more_follows().size() == writes_before + 3);
  CHECK_FALSE(bob.sink.more_follows().back());
}

TEST_CASE_FIXTURE(HubFixture, "a thread's DeferredWrites defers no other thread's writes") {
  Client ann(hub, "ann");
  REQUIRE(hub.join("lobby", ann.subscriber, {}).status == JoinStatus::joined);
  ann.received();
  const Hub::DeferredWrites deferred(hub);
  std::thread([&] { say("lobby", "bob", "from elsewhere"); }).join();
  CHECK(ann.received("msg") == std::vector<std::string>{"msg lobby#1 bob from elsewhere"});
}

TEST_CASE_FIXTURE(HubFixture, "a slow consumer met in deferred writes still leaves its rooms") {
  HubLimits limits = small_limits();
  limits.queue = {.max_frames = 2, .max_bytes = 100000};
  Hub tight(limits, encoder, time.clock());
  Client slow(tight, "slow");
  REQUIRE(tight.join("lobby", slow.subscriber, {}).status == JoinStatus::joined);
  {
    const Hub::DeferredWrites deferred(tight);
    for (int i = 0; i < 5; ++i) {
      tight.publish("lobby", {"ann", "", "m" + std::to_string(i)});
    }
    REQUIRE(tight.members("lobby").has_value());
    CHECK(tight.members("lobby")->members.size() == 1);
  }
  REQUIRE(tight.members("lobby").has_value());
  CHECK(tight.members("lobby")->members.empty());
}
