#include <doctest/doctest.h>

#include "cli/bench/delivery.hpp"

using relay::cli::bench::DeliveryLog;
using relay::cli::bench::Phase;
using relay::cli::bench::RoomProgress;
using relay::cli::bench::WindowListener;

namespace {

struct CountingListener final : WindowListener {
  int moves = 0;
  void window_moved() override { ++moves; }
};

// A room of two subscribers that publishers may be `window` ahead of.
struct TwoSubscribers {
  explicit TwoSubscribers(std::size_t window) { progress.expect(2, window); }
  RoomProgress progress;
  Phase phase;
  DeliveryLog a{phase, &progress};
  DeliveryLog b{phase, &progress};
};

}  // namespace

TEST_CASE("a room's window moves with its slowest subscriber, not its first") {
  RoomProgress progress;
  CountingListener publisher;
  progress.publishers.push_back(&publisher);
  progress.expect(3, 2);
  Phase phase;
  DeliveryLog first(phase, &progress);
  DeliveryLog second(phase, &progress);
  DeliveryLog third(phase, &progress);
  progress.published = 2;
  CHECK_FALSE(progress.window_open(2));

  for (std::uint64_t sequence = 1; sequence <= 2; ++sequence) {
    first.record(0, sequence, std::nullopt);
    second.record(0, sequence, std::nullopt);
  }
  CHECK(progress.delivered() == 0);
  CHECK_FALSE(progress.window_open(2));
  CHECK(publisher.moves == 0);

  third.record(0, 1, std::nullopt);
  CHECK(progress.delivered() == 1);
  CHECK(progress.window_open(2));
  CHECK(publisher.moves == 1);
  third.record(0, 2, std::nullopt);
  CHECK(progress.delivered() == 2);
  CHECK(publisher.moves == 2);
}

TEST_CASE("a message a subscriber found lost still moves the window past it") {
  TwoSubscribers room(4);
  for (std::uint64_t sequence = 10; sequence <= 13; ++sequence) {
    room.a.record(0, sequence, std::nullopt);
  }
  room.b.record(0, 10, std::nullopt);
  room.b.record(0, 13, std::nullopt);  // 11 and 12 lost
  CHECK(room.progress.delivered() == 4);
  CHECK(room.b.tally().lost == 2);
}

TEST_CASE("the window's counts are reused as it wraps, many times over") {
  TwoSubscribers room(3);
  for (std::uint64_t sequence = 1; sequence <= 100; ++sequence) {
    room.a.record(0, sequence, std::nullopt);
    room.b.record(0, sequence, std::nullopt);
    CHECK(room.progress.delivered() == sequence);
  }
}
