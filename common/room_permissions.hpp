#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace relay::common {

// What a caller may do in a room. Each is granted on its own: a token may let
// a dashboard follow a room it may not publish to.
enum class RoomRight { join, publish, follow, history };
inline constexpr std::array kRoomRights = {RoomRight::join, RoomRight::publish, RoomRight::follow,
                                           RoomRight::history};
// "join", "publish", "follow", "history": the keys of the rooms claim.
std::string_view name_of(RoomRight right);

// A pattern is a room name ("lobby"), a room name's first characters and a
// '*' ("team-*": every room whose name starts with "team-"), or "*" alone
// (every room); '*' cannot occur in a room name, so no name is both. Nothing
// when `pattern` is one, or why it is not.
std::optional<std::string> validate_room_pattern(std::string_view pattern);
bool room_pattern_matches(std::string_view pattern, std::string_view room);

// The rooms a caller may join, publish to, follow and read the history of,
// from the `rooms` claim of its token:
//
//   "rooms": ["lobby", "team-*"]                  all four rights in these rooms
//   "rooms": {"join": ["team-*"], "publish": ["team-*"],
//             "follow": ["alerts"], "history": ["team-*", "alerts"]}
//
// A right left out of the object is granted nowhere. A token without the
// claim grants no room: a key shared with other services may sign tokens
// that were never meant to open the relay, so every room is opened by name,
// and "*" says "every room" out loud.
class RoomPermissions {
 public:
  // Grants nothing.
  RoomPermissions() = default;
  // Every right in every room: a relay without tokens, where callers are
  // trusted (loopback, or --allow-anonymous).
  static RoomPermissions everything();
  // From the claim's JSON value, or why it is not a rooms claim.
  static std::variant<RoomPermissions, std::string> from_claim(const nlohmann::json& claim);

  // Adds `pattern` (already valid) to the rooms of `right`.
  void grant(RoomRight right, std::string pattern);
  bool allows(RoomRight right, std::string_view room) const;
  // Whether any right reaches the room: who may learn that it exists and
  // who is in it (ListRooms, Who).
  bool sees(std::string_view room) const;
  // The claim that says the same: the short list when every right has the
  // same rooms, else the object with the rights that have some.
  nlohmann::json to_claim() const;

 private:
  std::array<std::vector<std::string>, kRoomRights.size()> patterns_;
};

}  // namespace relay::common
