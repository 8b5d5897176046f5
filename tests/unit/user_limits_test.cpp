#include <doctest/doctest.h>

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

TEST_CASE("stream slots count per user and per peer, and are given back when destroyed") {
  RelayConfig config;
  config.max_streams = 3;
  config.max_streams_per_user = 2;
  config.max_streams_per_peer = 0;
  UserLimits limits(config);
  auto first = limits.admit("ann", "ipv4:10.0.0.1:1");
  auto second = limits.admit("ann", "ipv4:10.0.0.1:2");
  REQUIRE(first.slot);
  REQUIRE(second.slot);
  const auto third = limits.admit("ann", "ipv4:10.0.0.1:3");
  CHECK_FALSE(third.slot);
  CHECK(third.refusal.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  auto bob = limits.admit("bob", "ipv4:10.0.0.2:1");
  REQUIRE(bob.slot);
  CHECK_FALSE(limits.admit("carol", "ipv4:10.0.0.3:1").slot);  // the relay is full
  CHECK(limits.open_streams() == 3);
  first.slot.reset();
  CHECK(limits.open_streams() == 2);
  CHECK(limits.admit("ann", "ipv4:10.0.0.1:4").slot);
}

TEST_CASE("a user's streams share one quota, which outlives them until it is at rest") {
  RelayConfig config;
  config.publish_rate_per_second = 1;
  config.publish_burst = 2;
  config.room_creations_per_user_per_minute = 1;
  UserLimits limits(config);
  auto one = limits.admit("ann", "ipv4:10.0.0.1:1");
  auto two = limits.admit("ann", "ipv4:10.0.0.1:2");
  REQUIRE(one.slot);
  REQUIRE(two.slot);
  const std::int64_t now = 1'000'000;
  CHECK(one.slot->quota().try_publish(now) == 0);
  CHECK(two.slot->quota().try_publish(now) == 0);
  CHECK(one.slot->quota().try_publish(now) > 0);
  CHECK(one.slot->quota().try_create_room(now));
  CHECK_FALSE(two.slot->quota().try_create_room(now));

  // Closing and reopening buys nothing while the quota is spent.
  one.slot.reset();
  two.slot.reset();
  limits.sweep(now);
  CHECK(limits.users_tracked() == 1);
  auto again = limits.admit("ann", "ipv4:10.0.0.1:3");
  REQUIRE(again.slot);
  CHECK(again.slot->quota().try_publish(now) > 0);
  again.slot.reset();
  // Once refilled, the user is forgotten.
  limits.sweep(now + 120'000'000);
  CHECK(limits.users_tracked() == 0);
}
