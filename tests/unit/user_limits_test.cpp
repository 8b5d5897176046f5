#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "relay/service/user_limits.hpp"

using relay::common::RelayConfig;
using relay::service::peer_address;
using relay::service::UserLimits;

TEST_CASE("a peer is its address without the port") {
  CHECK(peer_address("ipv4:127.0.0.1:50123") == "ipv4:127.0.0.1");
  CHECK(peer_address("ipv6:[::1]:50123") == "ipv6:[::1]");
  CHECK(peer_address("ipv6:%5B::1%5D:50123") == "ipv6:%5B::1%5D");
  CHECK(peer_address("unix:/tmp/relay.sock") == "unix:/tmp/relay.sock");
}

TEST_CASE("stream slots count per relay, user and address, and are given back when destroyed") {
  RelayConfig config;
  config.max_streams = 4;
  config.max_streams_per_user = 2;
  config.max_streams_per_peer = 3;
  UserLimits limits(config);
  auto first = limits.admit("ann", "ipv4:10.0.0.1:1");
  auto second = limits.admit("ann", "ipv4:10.0.0.1:2");
  REQUIRE(first.slot);
  REQUIRE(second.slot);

  SUBCASE("per user") {
    const auto third = limits.admit("ann", "ipv4:10.0.0.9:3");
    CHECK_FALSE(third.slot);
    CHECK(third.refusal.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  SUBCASE("per address, whatever the names") {
    auto bob = limits.admit("bob", "ipv4:10.0.0.1:3");
    REQUIRE(bob.slot);
    const auto fourth = limits.admit("carol", "ipv4:10.0.0.1:4");
    CHECK_FALSE(fourth.slot);
    CHECK(fourth.refusal.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  SUBCASE("per relay") {
    auto bob = limits.admit("bob", "ipv4:10.0.0.2:1");
    auto carol = limits.admit("carol", "ipv4:10.0.0.3:1");
    REQUIRE(bob.slot);
    REQUIRE(carol.slot);
    CHECK_FALSE(limits.admit("dave", "ipv4:10.0.0.4:1").slot);
  }
  // A refusal changes no count; a slot destroyed gives its place back.
  const auto open = limits.open_streams();
  CHECK_FALSE(limits.admit("ann", "ipv4:10.0.0.1:5").slot);
  CHECK(limits.open_streams() == open);
  first.slot.reset();
  CHECK(limits.open_streams() == open - 1);
  CHECK(limits.admit("ann", "ipv4:10.0.0.5:1").slot);
}

TEST_CASE("a user's streams share one quota, which outlives them until it is at rest") {
  RelayConfig config;
  config.publish_rate_per_second = 1;
  config.publish_burst = 2;
  config.room_creations_per_user_per_minute = 1;
  UserLimits limits(config);
  auto one = limits.admit("ann", "ipv4:10.0.0.1:1");
  auto two = limits.admit("ann", "ipv4:10.0.0.2:2");
  REQUIRE(one.slot);
  REQUIRE(two.slot);
  // The creation gate reads the steady clock itself: the test's times follow it.
  const std::int64_t now = relay::service::steady_now_us();
  CHECK(one.slot->try_publish(now) == 0);
  CHECK(two.slot->try_publish(now) == 0);
  CHECK(one.slot->try_publish(now) > 0);
  CHECK(one.slot->create_gate()());
  CHECK_FALSE(two.slot->create_gate()());

  // Closing and reopening buys nothing while the quota is spent.
  one.slot.reset();
  two.slot.reset();
  limits.sweep(now);
  CHECK(limits.users_tracked() == 1);
  auto again = limits.admit("ann", "ipv4:10.0.0.1:3");
  REQUIRE(again.slot);
  CHECK(again.slot->try_publish(now) > 0);
  again.slot.reset();
  // Once refilled, the user is forgotten.
  limits.sweep(now + 120'000'000);
  CHECK(limits.users_tracked() == 0);
}

TEST_CASE("one address creates at most its rooms per minute, whatever names it uses") {
  RelayConfig config;
  config.room_creations_per_user_per_minute = 10;
  config.room_creations_per_peer_per_minute = 3;
  UserLimits limits(config);
  int created = 0;
  for (int i = 0; i < 10; ++i) {
    auto admitted = limits.admit("name-" + std::to_string(i), "ipv4:10.0.0.1:" + std::to_string(i));
    REQUIRE(admitted.slot);
    created += admitted.slot->create_gate()() ? 1 : 0;
  }
  CHECK(created == 3);
  auto elsewhere = limits.admit("other", "ipv4:10.0.0.2:1");
  REQUIRE(elsewhere.slot);
  CHECK(elsewhere.slot->create_gate()());
}

TEST_CASE("a slot keeps its user's and address's quotas while other users come, go and are swept") {
  RelayConfig config;
  config.room_creations_per_user_per_minute = 2;
  config.room_creations_per_peer_per_minute = 1000;
  UserLimits limits(config);
  auto held = limits.admit("ann", "ipv4:10.0.0.1:1");
  REQUIRE(held.slot);
  CHECK(held.slot->create_gate()());
  // Enough users to rehash both maps many times over, then gone and swept.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<relay::service::StreamSlot>> others;
    for (int i = 0; i < 1000; ++i) {
      auto admitted = limits.admit("user-" + std::to_string(i),
                                   "ipv4:10.0." + std::to_string(i % 250) + ".2:1");
      REQUIRE(admitted.slot);
      others.push_back(std::move(admitted.slot));
    }
    others.clear();
    limits.sweep(relay::service::steady_now_us() + 3'600'000'000);
  }
  CHECK(limits.users_tracked() == 1);
  CHECK(limits.open_streams() == 1);
  // Still ann's quota: one creation left of two, then none.
  CHECK(held.slot->create_gate()());
  CHECK_FALSE(held.slot->create_gate()());
  CHECK(held.slot->creation_wait_us(relay::service::steady_now_us()) > 0);
  held.slot.reset();
  CHECK(limits.open_streams() == 0);
}
