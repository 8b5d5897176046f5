#include <doctest/doctest.h>

#include "relay/hub/hub.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::Client;
using relay::hub::testing::FakeClock;
using relay::hub::testing::TextEncoder;

namespace {

HubLimits broker_limits() {
  HubLimits limits;
  limits.room.history = {.max_messages = 5, .max_bytes = 100000};
  limits.room.duplicates = {.window_us = 60'000'000, .max_ids = 100};
  limits.queue = {.max_frames = 50, .max_bytes = 100000};
  limits.room_idle_ttl_us = 10'000'000;
  limits.max_rooms = 1;
  limits.keep_numbered_rooms = true;
  return limits;
}

// A hub fed the way the NATS backplane feeds it: positions come from the
// broker, never from the hub's own counter.
struct BrokerFedHub {
  TextEncoder encoder;
  FakeClock time;
  Hub hub{broker_limits(), encoder, time.clock()};

  Position arrive(const std::string& room, std::uint64_t epoch, std::uint64_t sequence,
                  const std::string& id = "") {
    return hub.append(Message{.room = room,
                              .epoch = epoch,
                              .sequence = sequence,
                              .sender = "ann",
                              .client_message_id = id,
                              .server_time_us = time.now_us,
                              .body = "m" + std::to_string(sequence)});
  }
};

}  // namespace

TEST_CASE_FIXTURE(BrokerFedHub, "a room joined before its first message takes the broker's epoch") {
  Client bob(hub, "bob");
  REQUIRE(hub.join("lobby", bob.subscriber, {}).status == JoinStatus::joined);
  CHECK(arrive("lobby", 77, 1).sequence == 1);
  CHECK(arrive("lobby", 77, 2).sequence == 2);
  CHECK(bob.received("msg") ==
        std::vector<std::string>{"msg lobby#1 ann m1", "msg lobby#2 ann m2"});
  const auto page = hub.history("lobby", 0, 10);
  REQUIRE(page);
  CHECK(page->epoch == 77);
  CHECK(page->sequence == 2);
}

TEST_CASE_FIXTURE(BrokerFedHub,
                  "a message proposing a place already taken gets the next one, the same on "
                  "every relay") {
  // nats-server 2.9 in a cluster may accept two publishes that both expected
  // the same last message: both propose one place, and both are delivered.
  Client bob(hub, "bob");
  hub.join("lobby", bob.subscriber, {});
  arrive("lobby", 7, 1);
  arrive("lobby", 7, 2);
  const Position taken = arrive("lobby", 7, 2);
  CHECK(taken.epoch == 7);
  CHECK(taken.sequence == 3);
  CHECK(arrive("lobby", 7, 3).sequence == 4);
  CHECK(bob.received("msg") == std::vector<std::string>{"msg lobby#1 ann m1", "msg lobby#2 ann m2",
                                                        "msg lobby#3 ann m2",
                                                        "msg lobby#4 ann m3"});
  CHECK(hub.stats().messages_published == 4);
}

TEST_CASE_FIXTURE(BrokerFedHub,
                  "messages the broker no longer held count as missed, and the history stays "
                  "contiguous") {
  arrive("lobby", 7, 1);
  arrive("lobby", 7, 2);
  arrive("lobby", 7, 6);
  Client bob(hub, "bob");
  REQUIRE(hub.join("lobby", bob.subscriber, {.resume = Position{7, 1}}).status ==
          JoinStatus::joined);
  CHECK(bob.received() == std::vector<std::string>{"joined lobby seq=6 replayed=1 missed=4 "
                                                   "epoch_changed=0",
                                                   "msg lobby#6 ann m6"});
}

TEST_CASE_FIXTURE(BrokerFedHub, "a new epoch from the broker starts the numbering afresh") {
  arrive("lobby", 7, 1, "a");
  arrive("lobby", 7, 2);
  arrive("lobby", 9, 1);
  const auto page = hub.history("lobby", 0, 10);
  REQUIRE(page);
  CHECK(page->epoch == 9);
  CHECK(page->messages.size() == 1);
  // The old numbering's ids name positions that no longer exist.
  CHECK_FALSE(hub.find_duplicate("lobby", "ann", "a"));
  Client bob(hub, "bob");
  hub.join("lobby", bob.subscriber, {.resume = Position{7, 2}});
  CHECK(bob.received().front() == "joined lobby seq=1 replayed=1 missed=0 epoch_changed=1");
}

TEST_CASE_FIXTURE(BrokerFedHub, "a resend is found by its sender and id, at its first position") {
  arrive("lobby", 7, 1, "id-1");
  const auto found = hub.find_duplicate("lobby", "ann", "id-1");
  REQUIRE(found);
  CHECK(found->epoch == 7);
  CHECK(found->sequence == 1);
  CHECK(found->duplicate);
  CHECK_FALSE(hub.find_duplicate("lobby", "bob", "id-1"));
  CHECK_FALSE(hub.find_duplicate("elsewhere", "ann", "id-1"));
}

TEST_CASE_FIXTURE(
    BrokerFedHub,
    "a message read from the broker long after its publish is no longer a duplicate") {
  // As a relay that starts reads the broker's old messages: this one was
  // published 61 s ago, beyond the 60 s window.
  hub.append(Message{.room = "lobby",
                     .epoch = 7,
                     .sequence = 1,
                     .sender = "ann",
                     .client_message_id = "old",
                     .server_time_us = time.now_us - 61'000'000,
                     .body = "old"});
  arrive("lobby", 7, 2, "new");
  CHECK_FALSE(hub.find_duplicate("lobby", "ann", "old"));
  CHECK(hub.find_duplicate("lobby", "ann", "new"));
}

TEST_CASE_FIXTURE(BrokerFedHub,
                  "rooms from the broker pass max_rooms, which still bounds local creations") {
  arrive("one", 7, 1);
  arrive("two", 8, 1);
  CHECK(hub.stats().rooms == 2);
  CHECK(hub.admit_room("three", {}).too_many_rooms);
  CHECK_FALSE(hub.admit_room("two", {}).too_many_rooms);
  CHECK(hub.admit_room("four", [] { return false; }).too_many_rooms);
}

TEST_CASE_FIXTURE(BrokerFedHub, "idle rooms with messages stay while the broker numbers them") {
  arrive("kept", 7, 1);
  Client bob(hub, "bob");
  hub.join("kept", bob.subscriber, {});
  hub.leave("kept", bob.subscriber);
  time.now_us += 20'000'000;
  CHECK(hub.sweep() == 0);
  CHECK(hub.history("kept", 0, 10));
}

TEST_CASE_FIXTURE(BrokerFedHub, "members on other relays count, join and leave once per user") {
  Client ann(hub, "ann");
  std::vector<std::string> changed;
  hub.on_local_members_changed([&](const std::string& room) { changed.push_back(room); });
  REQUIRE(hub.join("lobby", ann.subscriber, {.presence = true}).status == JoinStatus::joined);
  CHECK(changed == std::vector<std::string>{"lobby"});

  hub.set_remote_members("lobby", "relay-b", {{"bob", 2}, {"ann", 1}});
  hub.set_remote_members("lobby", "relay-c", {{"bob", 1}});
  // bob joined once, though two relays have him; ann was here already.
  CHECK(ann.received("presence") == std::vector<std::string>{"presence lobby bob joined"});
  const auto members = hub.members("lobby");
  REQUIRE(members);
  REQUIRE(members->members.size() == 2);
  CHECK(members->members[0].user == "ann");
  CHECK(members->members[0].streams == 2);
  CHECK(members->members[1].user == "bob");
  CHECK(members->members[1].streams == 3);

  Client cy(hub, "cy");
  CHECK(hub.join("lobby", cy.subscriber, {}).summary.members == 3);

  hub.set_remote_members("lobby", "relay-b", {});
  CHECK(ann.received("presence").size() == 2);  // bob is still on relay-c, cy joined
  hub.set_remote_members("lobby", "relay-c", {});
  CHECK(ann.received("presence").back() == "presence lobby bob left");
  CHECK(hub.local_members("lobby")->size() == 2);
}

TEST_CASE_FIXTURE(BrokerFedHub, "a room held only by another relay's members is made, then goes") {
  hub.set_remote_members("elsewhere", "relay-b", {{"bob", 1}});
  const auto members = hub.members("elsewhere");
  REQUIRE(members);
  CHECK(members->members.size() == 1);
  time.now_us += 20'000'000;
  CHECK(hub.sweep() == 0);
  hub.set_remote_members("elsewhere", "relay-b", {});
  CHECK_FALSE(hub.members("elsewhere"));
}
