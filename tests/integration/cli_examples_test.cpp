// Every command line the README's "Using relay-chat" block and relay-chat's
// --help (its own and each subcommand's) show, run against real relays. The
// examples are read from those texts, so one cannot be added or changed
// without being run here and given an expectation below.
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/child_process.hpp"
#include "tests/integration/help_text.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;

namespace {

// The addresses the examples name stand for the relays the test starts.
constexpr std::string_view kFirstAddress = "127.0.0.1:50051";
constexpr std::string_view kSecondAddress = "127.0.0.1:50052";

// What running an example must give. A follow runs until the test has
// published `publish` to `follow_room` and seen it, then gets SIGTERM; the
// rest of its pipeline then reads what it printed.
struct Expectation {
  std::string input = {};
  std::vector<std::string> out_has = {};
  std::vector<std::string> out_lacks = {};
  std::string follow_room = {};
  std::string publish = {};
};

const std::map<std::string, Expectation>& expectations() {
  static const std::map<std::string, Expectation> table{
      // README
      {R"(printf 'build 42 passed\n' | relay-chat --room ci)",
       {.out_has = {"[ci] #", ": build 42 passed\n"}}},
      {"relay-chat send ci < notes.txt", {.out_has = {"2 accepted, 0 rejected"}}},
      {"relay-chat history ci -n 50 --json",
       {.out_has = {R"("body":"seed ci",)", R"("type":"message")"}}},
      {"relay-chat rooms", {.out_has = {"ci  ", "lobby  ", "ops  "}}},
      {"relay-chat who ci", {.out_has = {"carol\n"}}},
      {"relay-chat health", {.out_has = {"the relay at 127.0.0.1:", " is SERVING\n"}}},
      {R"(relay-chat follow ci ops --json | jq -r 'select(.type == "message") | .body')",
       {.out_has = {"new in ci\n"},
        .out_lacks = {"{", "null"},
        .follow_room = "ci",
        .publish = "new in ci"}},
      {"relay-chat --relay ipv4:127.0.0.1:50051,127.0.0.1:50052 --room ci",
       {.input = "over two relays\n", .out_has = {"[ci] #", ": over two relays\n"}}},
      // relay-chat --help
      {"relay-chat --room lobby",
       {.input = "hello lobby\n", .out_has = {"[lobby] #", ": hello lobby\n"}}},
      {"relay-chat --user bob --room lobby",
       {.input = "hello from bob\n", .out_has = {" bob: hello from bob\n"}}},
      {R"(printf 'a\nb\n' | relay-chat --room build)",
       {.out_has = {"[build] #", ": a\n", ": b\n"}}},
      {R"(printf 'done\n' | relay-chat --json --room ops)",
       {.out_has = {R"("body":"done")", R"("type":"message")", R"("type":"ack")"}}},
      {R"(relay-chat follow lobby ops --json | jq -r 'select(.type == "message") | .body')",
       {.out_has = {"new in lobby\n"},
        .out_lacks = {"{", "null"},
        .follow_room = "lobby",
        .publish = "new in lobby"}},
      {"relay-chat send lobby < notes.txt", {.out_has = {"2 accepted, 0 rejected"}}},
      {"relay-chat history lobby -n 50", {.out_has = {"[lobby] #1 carol: seed lobby\n"}}},
      {"relay-chat who lobby", {.out_has = {"carol\n"}}},
      {"relay-chat --relay ipv4:127.0.0.1:50051,127.0.0.1:50052 --room lobby",
       {.input = "over two relays\n", .out_has = {"[lobby] #", ": over two relays\n"}}},
      // the subcommands' --help
      {"relay-chat follow lobby",
       {.out_has = {"[lobby] #", " seeder: new in lobby\n"},
        .follow_room = "lobby",
        .publish = "new in lobby"}},
      {"relay-chat rooms --json", {.out_has = {R"("room":"lobby")"}}},
      {"relay-chat health --service relay.v1.Relay --timeout 1",
       {.out_has = {"service relay.v1.Relay of the relay at 127.0.0.1:", " is SERVING\n"}}},
      {"relay-chat history lobby -n 50 --json",
       {.out_has = {R"("body":"seed lobby",)", R"("type":"message")"}}},
  };
  return table;
}

// Where `what` first occurs outside single and double quotes, as sh reads them.
std::size_t find_unquoted(std::string_view line, std::string_view what) {
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (quote != 0) {
      quote = line[i] == quote ? 0 : quote;
    } else if (line[i] == '\'' || line[i] == '"') {
      quote = line[i];
    } else if (line.substr(i, what.size()) == what) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::vector<std::string> readme_examples() {
  std::ifstream in(std::filesystem::path(RELAY_SOURCE_DIR) / "README.md");
  REQUIRE(in);
  std::vector<std::string> examples;
  std::string line;
  while (std::getline(in, line) && line != "## Using relay-chat") {
  }
  while (std::getline(in, line) && line != "```sh") {
  }
  while (std::getline(in, line) && line != "```") {
    line = trim_right(line.substr(0, find_unquoted(line, "#")));
    if (!line.empty()) {
      examples.push_back(line);
    }
  }
  REQUIRE_FALSE(examples.empty());
  return examples;
}

std::string help_text(std::vector<std::string> args) {
  args.insert(args.begin(), relay_chat_path());
  args.emplace_back("--help");
  ChildProcess help(args, "");
  REQUIRE(help.wait_exit(10s) == 0);
  return help.out();
}

std::vector<std::string> all_help_examples() {
  const std::string main_help = help_text({});
  std::vector<std::string> examples = help_examples(main_help);
  const auto subcommands = section(main_help, "Subcommands:");
  REQUIRE_FALSE(subcommands.empty());
  for (const auto& line : subcommands) {
    const std::string name = line.substr(2, line.find(' ', 2) - 2);
    CAPTURE(name);
    for (auto& example : help_examples(help_text({name}))) {
      examples.push_back(std::move(example));
    }
  }
  return examples;
}

void replace_all(std::string& text, std::string_view from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// The example as sh runs it here: the built relay-chat on the test's relays.
std::string runnable(std::string command, const std::string& first, const std::string& second) {
  replace_all(command, kFirstAddress, first);
  replace_all(command, kSecondAddress, second);
  const bool names_relay = command.find("--relay") != std::string::npos;
  replace_all(command, "relay-chat ",
              "'" + relay_chat_path() + "' " + (names_relay ? "" : "--relay " + first + " "));
  return command;
}

struct Relays {
  RelayProcess first;
  RelayProcess second;
};

void publish(const Relays& relays, const std::string& room, const std::string& body) {
  ChildProcess sender(
      {relay_chat_path(), "--relay", relays.first.target(), "--user", "seeder", "send", room},
      body + "\n");
  REQUIRE(sender.wait_exit(20s) == 0);
}

// Runs a follow example's first command until it has shown what the test
// published, then stops it as a supervisor would; the rest of the pipeline, if any,
// reads its output.
std::string run_follow(const Relays& relays, const std::string& command,
                       const Expectation& expected, const std::string& directory) {
  const auto pipe = find_unquoted(command, "|");
  ChildProcess follow({"/bin/sh", "-c", "cd " + directory + " && exec " + command.substr(0, pipe)},
                      "");
  // JSON keys come sorted: in a joined line, and only there, "seq" follows "room".
  const auto joined = [&] {
    const std::string both = follow.out() + follow.err();
    return both.find("joined #" + expected.follow_room) != std::string::npos ||
           both.find(R"("room":")" + expected.follow_room + R"(","seq")") != std::string::npos;
  };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!joined() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(joined());
  publish(relays, expected.follow_room, expected.publish);
  REQUIRE(follow.wait_for_output(expected.publish, 10s));
  follow.signal(SIGTERM);
  // 128 + the signal: the shell's word for "stopped by SIGTERM".
  REQUIRE(follow.wait_exit(10s) == 128 + SIGTERM);
  if (pipe == std::string::npos) {
    return follow.out();
  }
  ChildProcess rest({"/bin/sh", "-c", "cd " + directory + " && " + command.substr(pipe + 1)},
                    follow.out());
  REQUIRE(rest.wait_exit(10s) == 0);
  return rest.out();
}

void run_example(const Relays& relays, const std::string& example, const std::string& directory) {
  CAPTURE(example);
  const auto found = expectations().find(example);
  REQUIRE_MESSAGE(found != expectations().end(),
                  "a new example: give it an expectation in cli_examples_test.cpp");
  const Expectation& expected = found->second;
  const std::string command = runnable(example, relays.first.target(), relays.second.target());
  CAPTURE(command);
  std::string out;
  if (!expected.follow_room.empty()) {
    out = run_follow(relays, command, expected, directory);
  } else {
    ChildProcess run({"/bin/sh", "-c", "cd " + directory + " && " + command}, expected.input);
    REQUIRE(run.wait_exit(20s) == 0);
    CAPTURE(run.err());
    out = run.out();
  }
  CAPTURE(out);
  for (const auto& text : expected.out_has) {
    CHECK(out.find(text) != std::string::npos);
  }
  for (const auto& text : expected.out_lacks) {
    CHECK(out.find(text) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("every relay-chat example of the README and of --help runs as shown") {
  Relays relays;
  // Rooms with a member and a first message, for history, rooms and who.
  ChatClient carol(relays.first.target(), "carol");
  for (const std::string room : {"ci", "lobby", "ops", "build"}) {
    join_and_wait(carol, room);
    publish_acked(carol, room, "seed " + room, "seed-" + room);
  }
  const auto directory = std::filesystem::temp_directory_path() /
                         ("relay-examples-" + std::to_string(relays.first.port()));
  std::filesystem::create_directories(directory);
  std::ofstream(directory / "notes.txt") << "first note\nsecond note\n";

  std::vector<std::string> examples = readme_examples();
  for (auto& example : all_help_examples()) {
    examples.push_back(std::move(example));
  }
  std::set<std::string> seen;
  for (const auto& example : examples) {
    run_example(relays, example, directory.string());
    seen.insert(example);
  }
  for (const auto& entry : expectations()) {
    const std::string& example = entry.first;
    CAPTURE(example);
    CHECK_MESSAGE(seen.contains(example), "no longer an example: remove its expectation");
  }
  std::filesystem::remove_all(directory);
}
