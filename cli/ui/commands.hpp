#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace relay::cli::ui {

inline constexpr int kDefaultHistoryCount = 20;
inline constexpr int kMaxHistoryCount = 1000;

// A line to publish to the current room, exactly as typed ("//x" arrives as "/x").
struct SendText {
  std::string text;
};
struct JoinRoom {
  std::string room;
};
// No room: leave the current one.
struct LeaveRoom {
  std::optional<std::string> room;
};
// Makes `room` the one plain lines go to.
struct SwitchRoom {
  std::string room;
};
// No room: the current one.
struct ShowMembers {
  std::optional<std::string> room;
};
struct ListRooms {};
// The last `count` messages of the current room.
struct ShowHistory {
  int count = kDefaultHistoryCount;
};
struct ShowHelp {};
struct Quit {};
// Nothing but whitespace: nothing to do, nothing to complain about.
struct BlankLine {};

using Command = std::variant<SendText, JoinRoom, LeaveRoom, SwitchRoom, ShowMembers, ListRooms,
                             ShowHistory, ShowHelp, Quit, BlankLine>;

// Why a line was refused, in one line for the user ("/join needs a room
// name: /join ROOM").
struct CommandError {
  std::string message;
};

using ParsedLine = std::variant<Command, CommandError>;

// Reads one line typed by the user. Command names are case-insensitive;
// arguments are separated by spaces or tabs; room names are checked with
// common::validate_room_name and counts must be 1-1000.
ParsedLine parse_command(std::string_view line);

// What /help prints, one command per line.
std::string help_text();

}  // namespace relay::cli::ui
