#include <doctest/doctest.h>

#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "common/room_permissions.hpp"

namespace {

using nlohmann::json;
using relay::common::room_pattern_matches;
using relay::common::RoomPermissions;
using relay::common::RoomRight;
using relay::common::validate_room_pattern;

RoomPermissions from(const char* claim) {
  auto read = RoomPermissions::from_claim(json::parse(claim));
  REQUIRE_MESSAGE(std::holds_alternative<RoomPermissions>(read), std::get<std::string>(read));
  return std::get<RoomPermissions>(read);
}

std::string refusal(const char* claim) {
  auto read = RoomPermissions::from_claim(json::parse(claim));
  REQUIRE(std::holds_alternative<std::string>(read));
  return std::get<std::string>(read);
}

}  // namespace

TEST_CASE("a room pattern is a name, a name's start and a star, or a star alone") {
  for (const char* pattern : {"lobby", "team-*", "t*", "*", "Team_7.dev-ops"}) {
    CAPTURE(pattern);
    CHECK_FALSE(validate_room_pattern(pattern));
  }
  for (const char* pattern : {"", "**", "a*b", "*team", "team-**", "a b*", ".hidden*", "te/am"}) {
    CAPTURE(pattern);
    CHECK(validate_room_pattern(pattern));
  }
}

TEST_CASE("a prefix pattern matches the rooms that start with it, a name only itself") {
  CHECK(room_pattern_matches("team-*", "team-a"));
  CHECK(room_pattern_matches("team-*", "team-"));
  CHECK_FALSE(room_pattern_matches("team-*", "team"));
  CHECK_FALSE(room_pattern_matches("team-*", "my-team-a"));
  CHECK(room_pattern_matches("*", "anything"));
  CHECK(room_pattern_matches("lobby", "lobby"));
  CHECK_FALSE(room_pattern_matches("lobby", "lobby2"));
  CHECK_FALSE(room_pattern_matches("lobby", "lobb"));
}

TEST_CASE("the list form of the rooms claim grants all four rights") {
  const auto rooms = from(R"(["lobby", "team-*"])");
  for (const RoomRight right : relay::common::kRoomRights) {
    CAPTURE(relay::common::name_of(right));
    CHECK(rooms.allows(right, "lobby"));
    CHECK(rooms.allows(right, "team-red"));
    CHECK_FALSE(rooms.allows(right, "ops"));
  }
  CHECK(rooms.sees("team-red"));
  CHECK_FALSE(rooms.sees("ops"));
}

TEST_CASE("the object form grants each right its own rooms, and none where it is left out") {
  const auto rooms = from(R"({"follow": ["alerts", "ops-*"], "history": ["ops-*"]})");
  CHECK(rooms.allows(RoomRight::follow, "alerts"));
  CHECK(rooms.allows(RoomRight::follow, "ops-eu"));
  CHECK_FALSE(rooms.allows(RoomRight::history, "alerts"));
  CHECK(rooms.allows(RoomRight::history, "ops-eu"));
  CHECK_FALSE(rooms.allows(RoomRight::join, "alerts"));
  CHECK_FALSE(rooms.allows(RoomRight::publish, "ops-eu"));
  CHECK(rooms.sees("alerts"));
  CHECK_FALSE(rooms.sees("lobby"));
}

TEST_CASE("no claim grants nothing, and everything() every right everywhere") {
  const RoomPermissions none;
  const auto all = RoomPermissions::everything();
  for (const RoomRight right : relay::common::kRoomRights) {
    CHECK_FALSE(none.allows(right, "lobby"));
    CHECK(all.allows(right, "lobby"));
  }
  CHECK_FALSE(none.sees("lobby"));
}

TEST_CASE("a rooms claim that is not one is refused, saying what is wrong") {
  CHECK(refusal(R"("team-*")").find("must be a list of rooms") != std::string::npos);
  CHECK(refusal(R"(["ok", 5])") == "rooms must hold only strings");
  CHECK(refusal(R"(["a*b"])").find(R"(room pattern "a*b")") != std::string::npos);
  CHECK(refusal(R"({"publsh": ["a"]})") ==
        "rooms.publsh is not a right: join, publish, follow or history");
  CHECK(refusal(R"({"join": "a"})") == "rooms.join must be a list of room names and patterns");
}

TEST_CASE("to_claim writes what from_claim reads back") {
  CHECK(RoomPermissions::everything().to_claim() == json::parse(R"(["*"])"));
  RoomPermissions rooms;
  rooms.grant(RoomRight::follow, "ops");
  rooms.grant(RoomRight::history, "ops-*");
  CHECK(rooms.to_claim() == json::parse(R"({"follow": ["ops"], "history": ["ops-*"]})"));
  const auto read = from(rooms.to_claim().dump().c_str());
  CHECK(read.allows(RoomRight::history, "ops-1"));
  CHECK_FALSE(read.allows(RoomRight::join, "ops"));
}
