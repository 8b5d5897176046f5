// Every line typed into relay-chat goes through parse_command. Whatever the
// line, the result must be one of the promised shapes: text sent as typed,
// rooms that pass validation, counts within bounds, and errors that fit on
// one line of the terminal.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "cli/ui/commands.hpp"
#include "common/validation.hpp"

namespace {

namespace ui = relay::cli::ui;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// A room the parser took from the line: a valid name, typed in the line.
void check_room(std::string_view line, const std::string& room) {
  require(!relay::common::validate_room_name(room));
  require(line.find(room) != std::string_view::npos);
}

void check_room(std::string_view line, const std::optional<std::string>& room) {
  if (room) {
    check_room(line, *room);
  }
}

struct CommandChecks {
  std::string_view line;

  void operator()(const ui::SendText& send) const {
    const std::string_view expected = line.starts_with("//") ? line.substr(1) : line;
    require(send.text == expected);
  }
  void operator()(const ui::JoinRoom& join) const { check_room(line, join.room); }
  void operator()(const ui::LeaveRoom& leave) const { check_room(line, leave.room); }
  void operator()(const ui::SwitchRoom& to) const { check_room(line, to.room); }
  void operator()(const ui::ShowMembers& who) const { check_room(line, who.room); }
  void operator()(const ui::ShowHistory& history) const {
    require(history.count >= 1 && history.count <= ui::kMaxHistoryCount);
  }
  void operator()(const ui::BlankLine&) const {
    require(std::all_of(line.begin(), line.end(), is_blank));
  }
  void operator()(const auto&) const {}
};

std::string with_uppercase_command(std::string_view line) {
  std::string upper(line);
  for (std::size_t at = 1; at < upper.size() && !is_blank(upper[at]); ++at) {
    if (upper[at] >= 'a' && upper[at] <= 'z') {
      upper[at] = static_cast<char>(upper[at] - 'a' + 'A');
    }
  }
  return upper;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const ui::ParsedLine parsed = ui::parse_command(line);

  if (const auto* error = std::get_if<ui::CommandError>(&parsed)) {
    // Shown on the status line: printable ASCII only, the input quoted.
    require(!error->message.empty());
    require(std::all_of(error->message.begin(), error->message.end(),
                        [](char c) { return c >= 0x20 && c < 0x7F; }));
  } else {
    const auto& command = std::get<ui::Command>(parsed);
    std::visit(CommandChecks{line}, command);
    if (!std::all_of(line.begin(), line.end(), is_blank)) {
      require(!std::holds_alternative<ui::BlankLine>(command));
    }
  }

  // Command names are case-insensitive.
  if (line.starts_with('/') && !line.starts_with("//")) {
    const ui::ParsedLine upper = ui::parse_command(with_uppercase_command(line));
    require(upper.index() == parsed.index());
    if (const auto* command = std::get_if<ui::Command>(&parsed)) {
      require(std::get<ui::Command>(upper).index() == command->index());
    }
  }
  return 0;
}
