// The README's "An authenticated, encrypted chat", run line by line as a
// reader would, in an empty folder: with TLS and tokens on, alice and bob
// chat while their tokens run out and are refreshed (3 s tokens instead of
// the README's 5 minutes, and a grace of 3 s instead of 30), and mallory,
// whose token is for other rooms, is refused. A line this test does not know
// fails it, so the block cannot change without being run here.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/child_process.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/scratch_directory.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kReadmeAddress = "127.0.0.1:50443";

std::vector<std::string> walkthrough_lines() {
  std::ifstream in(std::filesystem::path(RELAY_SOURCE_DIR) / "README.md");
  std::string line;
  while (std::getline(in, line) && line != "### An authenticated, encrypted chat") {
  }
  while (std::getline(in, line) && line != "```sh") {
  }
  std::vector<std::string> lines;
  while (std::getline(in, line) && line != "```") {
    if (!line.empty() && line[0] != '#') {
      lines.push_back(line);
    }
  }
  return lines;
}

std::string replaced(std::string text, std::string_view from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t found = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++found;
  }
  return found;
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("the README's authenticated, encrypted chat runs as shown") {
  ScratchDirectory folder("relay-security-readme");
  const std::string path = std::filesystem::path(relay_server_path()).parent_path().string() + ":" +
                           std::filesystem::path(relay_chat_path()).parent_path().string() + ":" +
                           std::filesystem::path(RELAY_TOKEN_PATH).parent_path().string() + ":" +
                           std::getenv("PATH");
  // `input | line`, in the folder, with the built programs on the PATH.
  const auto shell = [&](const std::string& input, const std::string& line) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{
            "/bin/sh", "-c",
            "cd " + folder.dir.string() + " && PATH=" + path + " && (" + input + ") | " + line},
        "");
  };

  std::unique_ptr<RelayProcess> relay;
  std::string alice_line;
  std::string bob_line;
  std::string mallory_line;
  const auto lines = walkthrough_lines();
  REQUIRE(lines.size() == 8);
  for (const auto& line : lines) {
    CAPTURE(line);
    const auto args = command_words(line);
    if (args[0] == "openssl" || args[0] == "relay-token") {
      auto step = shell("true", line);
      CHECK(step->wait_exit(60s) == 0);
    } else if (args[0] == "relay-server") {
      // On a free port: the rest as written, its files in the folder.
      REQUIRE(args.back() == "&");
      std::vector<std::string> relay_args;
      for (std::size_t i = 1; i + 1 < args.size(); ++i) {
        if (args[i] == "--listen") {
          REQUIRE(args[++i] == kReadmeAddress);
          continue;
        }
        const bool file = std::filesystem::exists(folder.dir / args[i]);
        relay_args.push_back(file ? folder.path(args[i]) : args[i]);
      }
      // Time shrunk as for the tokens: a stream not refreshed ends 3 s after
      // its token, so that one would show in the chats.
      relay_args.insert(relay_args.end(),
                        {"--token-refresh-grace-ms", "3000", "--auth-leeway-ms", "0"});
      relay = std::make_unique<RelayProcess>(relay_args);
    } else if (args[0] == "relay-chat") {
      REQUIRE(relay);
      const std::string chat =
          replaced(replaced(line, kReadmeAddress, relay->target()), "--ttl 5m", "--ttl 3s");
      if (has(line, "--user bob")) {
        bob_line = chat;
      } else if (has(line, "--user alice")) {
        alice_line = chat;
      } else if (has(line, "mallory.token")) {
        mallory_line = chat;
      } else {
        FAIL("a relay-chat line of the README this test does not know");
      }
    } else {
      FAIL("a README line this test does not know");
    }
  }
  // The chats run together, bob first so that he hears all alice says.
  REQUIRE_FALSE(bob_line.empty());
  REQUIRE_FALSE(alice_line.empty());
  REQUIRE_FALSE(mallory_line.empty());
  // bob speaks once alice is in, then stays a while to hear her.
  auto bob = shell(
      "i=0; while [ ! -e alice-joined ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
      "echo 'hi alice'; sleep 11",
      bob_line);
  REQUIRE(wait_until([&] { return has(bob->err(), "joined #team-a"); }, 20s));
  // Nine lines over nine seconds: three tokens' lives.
  auto alice =
      shell("for i in 1 2 3 4 5 6 7 8 9; do echo \"alice says $i\"; sleep 1; done", alice_line);
  REQUIRE(wait_until([&] { return has(alice->err(), "joined #team-a"); }, 20s));
  std::ofstream(folder.path("alice-joined")) << "\n";
  auto mallory = shell("echo 'let me in'", mallory_line);

  CHECK(mallory->wait_exit(30s) == 1);
  CHECK(has(mallory->err(),
            "refused in #team-a: your token does not let you join team-a (PERMISSION_DENIED)"));
  CHECK(has(mallory->err(), "your token does not let you publish to team-a"));

  CHECK(alice->wait_exit(60s) == 0);
  CHECK(bob->wait_exit(60s) == 0);
  CHECK(count(alice->out(), "bob: hi alice\n") == 1);
  for (int i = 1; i <= 9; ++i) {
    CHECK(count(bob->out(), "alice: alice says " + std::to_string(i) + "\n") == 1);
  }
  // Neither noticed a token running out: no refusal, no reconnection.
  for (const auto* chat : {alice.get(), bob.get()}) {
    CAPTURE(chat->err());
    CHECK_FALSE(has(chat->err(), "refused"));
    CHECK(count(chat->err(), "· connected") == 1);
    CHECK_FALSE(has(chat->err(), "reconnect"));
  }
  CHECK(has(relay->log(), ", TLS)"));
}
