// A token's rooms claim is JSON from whoever signs the relay's tokens. Any
// JSON must be read as permissions or refused, never crash, and what is read
// must mean the same once written back as a claim (relay-token writes it).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/room_permissions.hpp"

namespace {

using relay::common::RoomPermissions;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// Rooms to ask about: a few of any claim's, and those its own strings name
// or start.
std::vector<std::string> rooms_to_try(const nlohmann::json& claim) {
  std::vector<std::string> rooms = {"lobby", "team-a", "a"};
  std::vector<const nlohmann::json*> pending = {&claim};
  while (!pending.empty() && rooms.size() < 64) {
    const nlohmann::json* value = pending.back();
    pending.pop_back();
    if (value->is_string()) {
      std::string room = value->get<std::string>();
      if (!room.empty() && room.back() == '*') {
        room.back() = 'x';
      }
      rooms.push_back(room);
    }
    if (value->is_structured()) {
      for (const auto& item : *value) {
        pending.push_back(&item);
      }
    }
  }
  return rooms;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto claim = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (claim.is_discarded()) {
    return 0;
  }
  const auto read = RoomPermissions::from_claim(claim);
  const auto* permissions = std::get_if<RoomPermissions>(&read);
  if (permissions == nullptr) {
    return 0;
  }
  const auto again = RoomPermissions::from_claim(permissions->to_claim());
  require(std::holds_alternative<RoomPermissions>(again));
  for (const auto& room : rooms_to_try(claim)) {
    for (const auto right : relay::common::kRoomRights) {
      require(permissions->allows(right, room) ==
              std::get<RoomPermissions>(again).allows(right, room));
    }
  }
  return 0;
}
