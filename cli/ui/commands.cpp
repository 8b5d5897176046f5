#include "cli/ui/commands.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>
#include <vector>

#include "common/validation.hpp"

namespace relay::cli::ui {
namespace {

using Words = std::vector<std::string_view>;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

Words split_words(std::string_view text) {
  Words words;
  std::size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && is_blank(text[at])) {
      ++at;
    }
    const std::size_t start = at;
    while (at < text.size() && !is_blank(text[at])) {
      ++at;
    }
    if (at > start) {
      words.push_back(text.substr(start, at - start));
    }
  }
  return words;
}

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return lower;
}

// Builds the command inside the result rather than moving a temporary in:
// GCC 12 reports moves between nested variants as reads of uninitialized
// storage (-Wmaybe-uninitialized) in sanitizer builds. The kind itself is
// brace-initialised: clang 14 cannot initialise an aggregate from
// parentheses, which is what the variant would do with the arguments.
template <typename Kind, typename... Arguments>
ParsedLine command(Arguments&&... arguments) {
  return ParsedLine(std::in_place_type<Command>, std::in_place_type<Kind>,
                    Kind{std::forward<Arguments>(arguments)...});
}

// A command whose one argument is a room, or why the room name is refused.
template <typename Kind>
ParsedLine with_room(std::string_view name, std::string_view room) {
  if (auto problem = common::validate_room_name(room)) {
    return CommandError{"/" + std::string(name) + ": " + *problem};
  }
  return command<Kind>(std::string(room));
}

ParsedLine history(const Words& args) {
  if (args.empty()) {
    return command<ShowHistory>();
  }
  const std::string_view text = args.front();
  int count = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc{} || end != text.data() + text.size() || count < 1 ||
      count > kMaxHistoryCount) {
    return CommandError{"/history: N must be a whole number from 1 to " +
                        std::to_string(kMaxHistoryCount) + ", got " +
                        common::quote_for_humans(text, 20)};
  }
  return command<ShowHistory>(count);
}

struct Spec {
  std::string_view name;
  std::string_view arguments;  // as shown in the usage
  std::size_t min_arguments;
  std::size_t max_arguments;
  std::string_view summary;
  // Called with an argument count already within the bounds above.
  ParsedLine (*build)(const Words& args);
};

constexpr std::array<Spec, 8> kCommands{{
    {"join", "ROOM", 1, 1, "join a room (it is created if it does not exist)",
     [](const Words& args) { return with_room<JoinRoom>("join", args.front()); }},
    {"leave", "[ROOM]", 0, 1, "leave a room (default: the current one)",
     [](const Words& args) {
       if (args.empty()) {
         return command<LeaveRoom>();
       }
       return with_room<LeaveRoom>("leave", args.front());
     }},
    {"switch", "ROOM", 1, 1, "send plain lines to another joined room",
     [](const Words& args) { return with_room<SwitchRoom>("switch", args.front()); }},
    {"who", "[ROOM]", 0, 1, "list the members of a room (default: the current one)",
     [](const Words& args) {
       if (args.empty()) {
         return command<ShowMembers>();
       }
       return with_room<ShowMembers>("who", args.front());
     }},
    {"rooms", "", 0, 0, "list the rooms on the relay",
     [](const Words&) { return command<ListRooms>(); }},
    {"history", "[N]", 0, 1, "show the last N messages of the current room (1-1000, default 20)",
     history},
    {"help", "", 0, 0, "show this help", [](const Words&) { return command<ShowHelp>(); }},
    {"quit", "", 0, 0,
     "leave relay-chat, asking first if lines are not yet delivered (so does Ctrl-D on an "
     "empty line; Ctrl-C leaves at once)",
     [](const Words&) { return command<Quit>(); }},
}};

std::string usage(const Spec& spec) {
  std::string text = "/" + std::string(spec.name);
  if (!spec.arguments.empty()) {
    text += " " + std::string(spec.arguments);
  }
  return text;
}

}  // namespace

ParsedLine parse_command(std::string_view line) {
  if (std::all_of(line.begin(), line.end(), is_blank)) {
    return command<BlankLine>();
  }
  if (!line.starts_with('/')) {
    return command<SendText>(std::string(line));
  }
  if (line.starts_with("//")) {
    return command<SendText>(std::string(line.substr(1)));
  }
  const Words words = split_words(line.substr(1));
  const std::string name = words.empty() ? std::string() : lowercase(words.front());
  const auto spec = std::find_if(kCommands.begin(), kCommands.end(),
                                 [&name](const Spec& candidate) { return candidate.name == name; });
  if (spec == kCommands.end()) {
    const std::string_view typed = words.empty() ? std::string_view() : words.front();
    return CommandError{"unknown command " +
                        common::quote_for_humans("/" + std::string(typed), 24) +
                        "; type /help for the list, or // to send a line starting with /"};
  }
  const Words args(words.begin() + 1, words.end());
  if (args.size() < spec->min_arguments) {
    return CommandError{"/" + name + " needs " + std::string(spec->arguments) +
                        " (usage: " + usage(*spec) + ")"};
  }
  if (args.size() > spec->max_arguments) {
    const std::string allowed = spec->max_arguments == 0 ? "no arguments" : "one argument";
    return CommandError{"/" + name + " takes " + allowed + " (usage: " + usage(*spec) + ")"};
  }
  return spec->build(args);
}

std::string help_text() {
  std::string text = "commands (a line not starting with / is sent to the current room):";
  for (const Spec& spec : kCommands) {
    std::string shown = usage(spec);
    shown.resize(std::max<std::size_t>(shown.size(), 14), ' ');
    text += "\n  " + shown + "  " + std::string(spec.summary);
  }
  text += "\n  //text          send \"/text\"";
  return text;
}

}  // namespace relay::cli::ui
