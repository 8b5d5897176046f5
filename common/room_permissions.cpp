#include "common/room_permissions.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/validation.hpp"

namespace relay::common {
namespace {

using nlohmann::json;

constexpr std::string_view kEveryRoom = "*";

std::size_t index_of(RoomRight right) { return static_cast<std::size_t>(right); }

// The patterns of one right, or why the value is not a list of them.
std::variant<std::vector<std::string>, std::string> read_patterns(const json& value,
                                                                  std::string_view where) {
  if (!value.is_array()) {
    return std::string(where) + " must be a list of room names and patterns";
  }
  std::vector<std::string> patterns;
  for (const json& item : value) {
    if (!item.is_string()) {
      return std::string(where) + " must hold only strings";
    }
    const auto& pattern = item.get_ref<const std::string&>();
    if (auto error = validate_room_pattern(pattern)) {
      return std::string(where) + ": " + *error;
    }
    patterns.push_back(pattern);
  }
  return patterns;
}

}  // namespace

std::string_view name_of(RoomRight right) {
  switch (right) {
    case RoomRight::join:
      return "join";
    case RoomRight::publish:
      return "publish";
    case RoomRight::follow:
      return "follow";
    case RoomRight::history:
      return "history";
  }
  return "?";
}

std::optional<std::string> validate_room_pattern(std::string_view pattern) {
  if (pattern == kEveryRoom) {
    return std::nullopt;
  }
  const bool prefix = !pattern.empty() && pattern.back() == '*';
  const std::string_view name = prefix ? pattern.substr(0, pattern.size() - 1) : pattern;
  // A prefix is checked as the shortest room it matches.
  if (validate_room_name(name)) {
    return "room pattern " + quote_for_humans(pattern) +
           " must be a room name, a room name's start followed by '*', or '*' alone";
  }
  return std::nullopt;
}

bool room_pattern_matches(std::string_view pattern, std::string_view room) {
  if (!pattern.empty() && pattern.back() == '*') {
    return room.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  return pattern == room;
}

RoomPermissions RoomPermissions::everything() {
  RoomPermissions permissions;
  for (const RoomRight right : kRoomRights) {
    permissions.grant(right, std::string(kEveryRoom));
  }
  return permissions;
}

std::variant<RoomPermissions, std::string> RoomPermissions::from_claim(const json& claim) {
  RoomPermissions permissions;
  if (claim.is_array()) {
    auto patterns = read_patterns(claim, "rooms");
    if (auto* error = std::get_if<std::string>(&patterns)) {
      return std::move(*error);
    }
    for (const RoomRight right : kRoomRights) {
      permissions.patterns_[index_of(right)] = std::get<std::vector<std::string>>(patterns);
    }
    return permissions;
  }
  if (!claim.is_object()) {
    return std::string(
        "rooms must be a list of rooms, or an object of join, publish, follow and "
        "history lists");
  }
  for (const auto& item : claim.items()) {
    const auto* right = std::find_if(kRoomRights.begin(), kRoomRights.end(),
                                     [&](RoomRight r) { return name_of(r) == item.key(); });
    // A misspelt right would otherwise grant nothing without a word.
    if (right == kRoomRights.end()) {
      return "rooms." + item.key() + " is not a right: join, publish, follow or history";
    }
    auto patterns = read_patterns(item.value(), "rooms." + item.key());
    if (auto* error = std::get_if<std::string>(&patterns)) {
      return std::move(*error);
    }
    permissions.patterns_[index_of(*right)] = std::get<std::vector<std::string>>(patterns);
  }
  return permissions;
}

void RoomPermissions::grant(RoomRight right, std::string pattern) {
  patterns_[index_of(right)].push_back(std::move(pattern));
}

bool RoomPermissions::allows(RoomRight right, std::string_view room) const {
  const auto& patterns = patterns_[index_of(right)];
  return std::any_of(patterns.begin(), patterns.end(), [room](const std::string& pattern) {
    return room_pattern_matches(pattern, room);
  });
}

bool RoomPermissions::sees(std::string_view room) const {
  return std::any_of(kRoomRights.begin(), kRoomRights.end(),
                     [&](RoomRight right) { return allows(right, room); });
}

json RoomPermissions::to_claim() const {
  const bool alike = std::all_of(patterns_.begin(), patterns_.end(),
                                 [&](const auto& patterns) { return patterns == patterns_[0]; });
  if (alike) {
    return patterns_[0];
  }
  json claim = json::object();
  for (const RoomRight right : kRoomRights) {
    if (!patterns_[index_of(right)].empty()) {
      claim[std::string(name_of(right))] = patterns_[index_of(right)];
    }
  }
  return claim;
}

}  // namespace relay::common
