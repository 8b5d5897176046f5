#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "cli/ui/commands.hpp"

namespace {

using namespace relay::cli::ui;

// The command a line parses to; fails the test when it is refused instead.
template <typename Expected>
Expected parsed_as(const std::string& line) {
  const ParsedLine parsed = parse_command(line);
  if (const auto* error = std::get_if<CommandError>(&parsed)) {
    FAIL("\"" << line << "\" was refused: " << error->message);
  }
  const auto* command = std::get_if<Expected>(&std::get<Command>(parsed));
  REQUIRE_MESSAGE(command != nullptr, "\"" << line << "\" parsed to another command");
  return *command;
}

// The explanation a line is refused with; fails the test when it is accepted.
std::string refusal(const std::string& line) {
  const ParsedLine parsed = parse_command(line);
  const auto* error = std::get_if<CommandError>(&parsed);
  REQUIRE_MESSAGE(error != nullptr, "\"" << line << "\" was accepted");
  CHECK(error->message.find('\n') == std::string::npos);
  return error->message;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a plain line is a message, sent exactly as typed") {
  CHECK(parsed_as<SendText>("hello").text == "hello");
  CHECK(parsed_as<SendText>("  indented, trailing  ").text == "  indented, trailing  ");
  CHECK(parsed_as<SendText>("a / in the middle").text == "a / in the middle");
}

TEST_CASE("a line starting with // sends one starting with /") {
  CHECK(parsed_as<SendText>("//join is a command").text == "/join is a command");
  CHECK(parsed_as<SendText>("//").text == "/");
}

TEST_CASE("a blank line is neither sent nor refused") {
  parsed_as<BlankLine>("");
  parsed_as<BlankLine>("   \t ");
}

TEST_CASE("/join and /switch take exactly one valid room name") {
  CHECK(parsed_as<JoinRoom>("/join lobby").room == "lobby");
  CHECK(parsed_as<JoinRoom>("/join   team-7.dev  ").room == "team-7.dev");
  CHECK(parsed_as<SwitchRoom>("/switch lobby").room == "lobby");

  SUBCASE("missing") {
    CHECK(refusal("/join") == "/join needs ROOM (usage: /join ROOM)");
    CHECK(refusal("/switch") == "/switch needs ROOM (usage: /switch ROOM)");
  }
  SUBCASE("too many") {
    CHECK(refusal("/join a b") == "/join takes one argument (usage: /join ROOM)");
  }
  SUBCASE("invalid, explained by the room name rule") {
    const std::string message = refusal("/join bad/name");
    CHECK(message.starts_with("/join: room name must be 1-64 characters"));
    CHECK(contains(message, "\"bad/name\""));
    CHECK(contains(refusal("/switch .hidden"), "must not start with '.'"));
  }
}

TEST_CASE("/leave and /who name a room or default to the current one") {
  CHECK_FALSE(parsed_as<LeaveRoom>("/leave").room);
  CHECK(parsed_as<LeaveRoom>("/leave lobby").room == "lobby");
  CHECK_FALSE(parsed_as<ShowMembers>("/who").room);
  CHECK(parsed_as<ShowMembers>("/who lobby").room == "lobby");
  CHECK(refusal("/leave a b") == "/leave takes one argument (usage: /leave [ROOM])");
  CHECK(refusal("/who a\x1b[31m").starts_with("/who: room name must be"));
}

TEST_CASE("/history takes a count from 1 to 1000, 20 by default") {
  CHECK(parsed_as<ShowHistory>("/history").count == kDefaultHistoryCount);
  CHECK(parsed_as<ShowHistory>("/history 1").count == 1);
  CHECK(parsed_as<ShowHistory>("/history 1000").count == 1000);
  for (const std::string bad : {"0", "1001", "-5", "abc", "12abc", "99999999999999999999", "+3"}) {
    CAPTURE(bad);
    const std::string message = refusal("/history " + bad);
    CHECK(message.starts_with("/history: N must be a whole number from 1 to 1000, got \""));
  }
}

TEST_CASE("commands without arguments refuse any") {
  parsed_as<ListRooms>("/rooms");
  parsed_as<ShowHelp>("/help");
  parsed_as<Quit>("/quit");
  CHECK(refusal("/quit now") == "/quit takes no arguments (usage: /quit)");
  CHECK(refusal("/rooms all") == "/rooms takes no arguments (usage: /rooms)");
}

TEST_CASE("command names are case-insensitive") {
  CHECK(parsed_as<JoinRoom>("/JOIN lobby").room == "lobby");
  parsed_as<Quit>("/Quit");
}

TEST_CASE("an unknown command is explained in one line, its name quoted safely") {
  const std::string message = refusal("/frobnicate x");
  CHECK(message.starts_with("unknown command \"/frobnicate\"; type /help"));
  CHECK(contains(message, "//"));
  CHECK(contains(refusal("/"), "\"/\""));
  CHECK(contains(refusal("/\x1b[2J"), "\\x1b[2J"));
}

TEST_CASE("help lists every command") {
  const std::string help = help_text();
  for (const char* usage : {"/join ROOM", "/leave [ROOM]", "/switch ROOM", "/who [ROOM]", "/rooms",
                            "/history [N]", "/help", "/quit", "//text"}) {
    CAPTURE(usage);
    CHECK(contains(help, usage));
  }
}
