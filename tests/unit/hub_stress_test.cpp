#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "relay/hub/hub.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::ManualSink;
using relay::hub::testing::TextEncoder;

namespace {

// Sequence numbers of "msg ROOM#SEQ ..." frames, per room.
std::map<std::string, std::vector<std::uint64_t>> sequences_by_room(
    const std::vector<std::string>& frames) {
  std::map<std::string, std::vector<std::uint64_t>> result;
  for (const auto& frame : frames) {
    if (frame.rfind("msg ", 0) != 0) {
      continue;
    }
    const auto hash = frame.find('#');
    const auto space = frame.find(' ', hash);
    result[frame.substr(4, hash - 4)].push_back(
        std::stoull(frame.substr(hash + 1, space - hash - 1)));
  }
  return result;
}

}  // namespace

TEST_CASE("concurrent joins, leaves, publishes and sweeps end in a consistent state") {
  TextEncoder encoder;
  std::atomic<std::int64_t> now_us{1'000'000};
  HubLimits limits;
  limits.room.history = {.max_messages = 50, .max_bytes = 1 << 20};
  limits.queue = {.max_frames = 1 << 16, .max_bytes = 1 << 26};
  limits.room_idle_ttl_us = 1000;
  // Lingering writes add a thread of the hub's own (the FlushTimer) that
  // flushes subscribers while publishers and write completions do too.
  WriteBatching batching;
  SUBCASE("one frame per write") {}
  SUBCASE("batched writes that linger") {
    limits.write_linger = std::chrono::microseconds(200);
    batching = {.max_frames = 16, .max_bytes = 1 << 20};
  }
  Hub hub(limits, encoder, [&] {
    const std::int64_t now = now_us.load();
    return HubTime{now, now};
  });

  const std::vector<std::string> rooms{"a", "b", "c", "d"};
  constexpr int kSteady = 4;    // stay in every room for the whole test
  constexpr int kChurners = 4;  // join and leave all the time
  constexpr int kPublishers = 4;
  constexpr int kPublishesEach = 2000;

  struct Peer {
    ManualSink sink;
    SubscriberPtr subscriber;
  };
  std::vector<std::unique_ptr<Peer>> steady;
  for (int i = 0; i < kSteady; ++i) {
    auto peer = std::make_unique<Peer>();
    peer->subscriber = hub.make_subscriber("steady" + std::to_string(i), SubscriberKind::chat,
                                           peer->sink, batching);
    peer->sink.bind(peer->subscriber.get());
    for (const auto& room : rooms) {
      REQUIRE(hub.join(room, peer->subscriber, {}).status == JoinStatus::joined);
    }
    steady.push_back(std::move(peer));
  }

  std::atomic<bool> publishing{true};
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPublishesEach; ++i) {
        const auto& room = rooms[static_cast<std::size_t>(i + p) % rooms.size()];
        const std::string id = "p" + std::to_string(p) + "-" + std::to_string(i);
        hub.publish(room, {"pub" + std::to_string(p), id, "x"});
        if (i % 7 == 0) {  // a resend after a "reconnect"
          CHECK(hub.publish(room, {"pub" + std::to_string(p), id, "x"}).duplicate);
        }
        now_us.fetch_add(1);
      }
    });
  }
  for (int c = 0; c < kChurners; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 random(static_cast<unsigned>(c));
      for (int i = 0; i < 3000 && publishing.load(); ++i) {
        Peer peer;
        peer.subscriber = hub.make_subscriber("churn" + std::to_string(c), SubscriberKind::chat,
                                              peer.sink, batching);
        peer.sink.bind(peer.subscriber.get());
        const auto& room = rooms[random() % rooms.size()];
        hub.join(room, peer.subscriber, {.resume = Position{0, 0}});
        peer.sink.complete_all();
        hub.leave(room, peer.subscriber);
        // As a reactor does: the sink may die only once the stream is
        // finished, since other threads may still hold the subscriber.
        peer.subscriber->close({CloseCode::ok, ""}, false);
        REQUIRE(peer.sink.complete_until_finished());
        REQUIRE(peer.sink.finishes().size() == 1);
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 2000 && publishing.load(); ++i) {
      hub.sweep();
      for (auto& peer : steady) {
        peer->sink.complete_all();
      }
    }
  });
  for (int p = 0; p < kPublishers; ++p) {
    threads[static_cast<std::size_t>(p)].join();
  }
  publishing = false;
  for (std::size_t t = kPublishers; t < threads.size(); ++t) {
    threads[t].join();
  }

  CHECK(hub.stats().messages_published == kPublishers * kPublishesEach);
  std::uint64_t total_sequence = 0;
  for (const auto& info : hub.list_rooms()) {
    total_sequence += info.sequence;
  }
  CHECK(total_sequence == kPublishers * kPublishesEach);

  constexpr std::size_t kMessagesEach = kPublishers * kPublishesEach;
  for (auto& peer : steady) {
    // A lingering flush may still be due: complete writes until every
    // message is there, within a bound.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto messages = [&peer] {
      std::size_t count = 0;
      for (const auto& [room, seqs] : sequences_by_room(peer->sink.written())) {
        count += seqs.size();
      }
      return count;
    };
    while (messages() < kMessagesEach && std::chrono::steady_clock::now() < deadline) {
      peer->sink.complete_all();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const auto by_room = sequences_by_room(peer->sink.written());
    REQUIRE(by_room.size() == rooms.size());
    for (const auto& [room, seqs] : by_room) {
      REQUIRE(seqs.size() == kPublishers * kPublishesEach / rooms.size());
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        REQUIRE(seqs[i] == i + 1);
      }
    }
    for (const auto& room : rooms) {
      CHECK(hub.leave(room, peer->subscriber));
    }
    CHECK_FALSE(peer->subscriber->closing());
  }
  // Past the idle TTL and the duplicate window, which keeps a room with ids.
  now_us.fetch_add(HubLimits{}.room.duplicates.window_us + 1'000'000);
  CHECK(hub.sweep() == rooms.size());
  CHECK(hub.list_rooms().empty());
}

TEST_CASE("rooms created at once from many threads never exceed max_rooms") {
  // Rooms land in different shards of the hub's map, so only the shared
  // count can hold the limit exactly.
  constexpr std::size_t kMaxRooms = 50;
  constexpr int kThreads = 8;
  constexpr int kRoomsPerThread = 40;
  TextEncoder encoder;
  HubLimits limits;
  limits.max_rooms = kMaxRooms;
  Hub hub(limits, encoder);
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRoomsPerThread; ++i) {
        const auto result = hub.publish("room-" + std::to_string(t) + "-" + std::to_string(i),
                                        {"ann", "", "hello"});
        (result.too_many_rooms ? refused : created).fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(created.load() == static_cast<int>(kMaxRooms));
  CHECK(refused.load() == kThreads * kRoomsPerThread - static_cast<int>(kMaxRooms));
  CHECK(hub.list_rooms().size() == kMaxRooms);
  CHECK(hub.stats().rooms_created == kMaxRooms);
}

namespace {

void busy_wait(std::chrono::microseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// Takes its time over the answer to a join of room x, as a busy machine may,
// and says when it started: the join holds x's lock meanwhile, after it has
// looked at the stream.
class SlowJoinEncoder : public TextEncoder {
 public:
  static constexpr std::chrono::microseconds kJoinTime{100};
  FramePtr encode_joined(const JoinSummary& summary) override {
    if (summary.room == "x") {
      joining = true;
      busy_wait(kJoinTime);
    }
    return TextEncoder::encode_joined(summary);
  }
  std::atomic<bool> joining{false};
};

}  // namespace

TEST_CASE("a stream closed as a slow consumer while it joins a room is in no room after") {
  // Thread A joins room x while thread B overflows the same stream through
  // room y, at a later point of the join in each trial, and past its end.
  // Whichever comes first, the closed stream must end up in no room.
  constexpr int kTrials = 300;
  constexpr int kOverflowPublishes = 8;
  SlowJoinEncoder encoder;
  HubLimits limits;
  limits.queue = {.max_frames = 4, .max_bytes = 1 << 20};
  int ghosts = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    Hub hub(limits, encoder);
    ManualSink sink;
    const auto subscriber = hub.make_subscriber("ann", SubscriberKind::chat, sink);
    sink.bind(subscriber.get());
    // The join answer's write stays in flight, so the live frames queue up.
    REQUIRE(hub.join("y", subscriber, {}).status == JoinStatus::joined);

    encoder.joining = false;
    std::thread joiner([&] { hub.join("x", subscriber, {}); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!encoder.joining && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    busy_wait(SlowJoinEncoder::kJoinTime * (trial % 30) / 20);
    for (int i = 0; i < kOverflowPublishes; ++i) {
      hub.publish("y", {"bob", "", "flood"});
    }
    joiner.join();

    REQUIRE(subscriber->closing());
    std::size_t subscribers = 0;
    for (const auto& info : hub.list_rooms()) {
      subscribers += info.subscribers;
    }
    const auto members = hub.members("x");
    if (subscribers != 0 || (members && !members->members.empty()) ||
        !subscriber->rooms().empty()) {
      ++ghosts;
    }
    REQUIRE(sink.complete_until_finished());
  }
  CHECK(ghosts == 0);
}
