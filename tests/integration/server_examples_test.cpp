// relay-server's --help as the README shows it, and each of its examples run
// as shown. The examples are read from --help, so one cannot be added or
// changed without being run here and given a check below.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/child_process.hpp"
#include "tests/integration/help_text.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/scratch_directory.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

// The fenced block after the README's "`relay-server --help` prints:".
std::string readme_help() {
  std::ifstream in(std::filesystem::path(RELAY_SOURCE_DIR) / "README.md");
  std::string line;
  while (std::getline(in, line) &&
         line.find("`relay-server --help` prints:") == std::string::npos) {
  }
  while (std::getline(in, line) && line != "```") {
  }
  std::string block;
  while (std::getline(in, line) && line != "```") {
    block += line + "\n";
  }
  return block;
}

std::string help_output() {
  ChildProcess help({relay_server_path(), "--help"}, "");
  REQUIRE(help.wait_exit(20s) == 0);
  return help.out();
}

// The example's words with its files in `folder` and the program the tests run.
std::vector<std::string> command(const std::string& example, const ScratchDirectory& folder) {
  std::vector<std::string> args;
  for (const auto& word : command_words(example)) {
    if (word == "relay-server") {
      args.push_back(relay_server_path());
    } else if (word == "secret.txt" || word == "relay.json") {
      args.push_back(folder.path(word));
    } else {
      args.push_back(word);
    }
  }
  return args;
}

// A relay that asks for tokens and logs JSON, on every address: announces
// its port, serves health to anyone, refuses a call without a token, logs
// one JSON object per line, and drains on SIGTERM.
void run_json_logging_relay_with_tokens(const std::string& example,
                                        const ScratchDirectory& folder) {
  {
    std::ofstream secret(folder.path("secret.txt"));
    secret << "an HS256 secret of more than thirty-two bytes\n";
  }
  auto args = command(example, folder);
  for (auto& word : args) {
    if (word == "0.0.0.0:50051") {
      word = "0.0.0.0:0";  // any free port; the test connects through loopback
    }
  }
  args.insert(args.end(), {"--port-file", folder.path("port")});
  ChildProcess relay(args, "");
  REQUIRE_MESSAGE(wait_until([&] { return !folder.text("port").empty(); }, 20s), relay.err());
  const std::string target = "127.0.0.1:" + std::to_string(std::stoi(folder.text("port")));

  ChildProcess health({relay_chat_path(), "--relay", target, "--timeout", "10", "health"}, "");
  CHECK(health.wait_exit(20s) == 0);
  CHECK_MESSAGE(health.out().find("is SERVING") != std::string::npos, health.out());
  ChildProcess rooms({relay_chat_path(), "--relay", target, "--timeout", "10", "rooms"}, "");
  CHECK(rooms.wait_exit(20s) == 1);
  CHECK_MESSAGE(rooms.err().find("UNAUTHENTICATED") != std::string::npos, rooms.err());

  relay.signal(SIGTERM);
  CHECK(relay.wait_exit(20s) == 0);
  const auto logged = lines_of(relay.err());
  CHECK(logged.size() >= 3);  // listening, the refusal, stopped
  for (const auto& line : logged) {
    const auto parsed = nlohmann::json::parse(line, nullptr, false);
    CHECK_MESSAGE((parsed.is_object() && parsed.contains("msg") && parsed.contains("level")), line);
  }
}

// Flags override the file, the file overrides the defaults, and the relay
// prints the result without starting.
void run_print_config(const std::string& example, const ScratchDirectory& folder) {
  {
    std::ofstream config(folder.path("relay.json"));
    config << R"({"history_max_messages": 100, "max_rooms": 77})";
  }
  ChildProcess printed(command(example, folder), "");
  REQUIRE_MESSAGE(printed.wait_exit(20s) == 0, printed.err());
  const auto settings = nlohmann::json::parse(printed.out(), nullptr, false);
  REQUIRE_MESSAGE(settings.is_object(), printed.out());
  CHECK(settings["history_max_messages"] == 5000);
  CHECK(settings["max_rooms"] == 77);
  CHECK(settings["listen_address"] == "127.0.0.1:50051");
}

}  // namespace

TEST_CASE("relay-server --help is what the README shows") { CHECK(help_output() == readme_help()); }

TEST_CASE("every example of relay-server --help runs as shown") {
  const std::map<std::string, std::function<void(const std::string&, const ScratchDirectory&)>>
      checks{
          {"relay-server --listen 0.0.0.0:50051 --auth-key secret.txt --log-format json",
           run_json_logging_relay_with_tokens},
          {"relay-server --config relay.json --history-max-messages 5000 --print-config",
           run_print_config},
      };
  const auto shown = help_examples(help_output());
  REQUIRE(shown.size() == checks.size());
  for (const auto& example : shown) {
    CAPTURE(example);
    const auto check = checks.find(example);
    REQUIRE_MESSAGE(check != checks.end(), "an example this test does not know");
    ScratchDirectory folder("relay-server-example");
    check->second(example, folder);
  }
}
