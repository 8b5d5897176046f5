#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/session/token_source.hpp"

using relay::cli::fetch_token;
using relay::cli::run_token_command;
using relay::cli::TokenSource;
using namespace std::chrono_literals;

TEST_CASE("--token-command: the first word it prints, when it exits 0") {
  std::string why;
  CHECK(run_token_command("printf '  abc.def.ghi \\nrest\\n'", 5s, why) == "abc.def.ghi");
  CHECK(why.empty());
}

TEST_CASE("--token-command: a failing or silent command gives no token, and says why") {
  std::string why;
  CHECK_FALSE(run_token_command("echo token; exit 3", 5s, why));
  CHECK(why == "--token-command failed (exit status 3)");
  CHECK_FALSE(run_token_command("true", 5s, why));
  CHECK(why == "--token-command printed no token");
  CHECK_FALSE(run_token_command("kill -9 $$", 5s, why));
  CHECK(why == "--token-command failed (exit status signal)");
}

TEST_CASE("--token-command: a stuck command is killed, with what it started, at the timeout") {
  std::string why;
  const auto start = std::chrono::steady_clock::now();
  // The background sleep keeps the output open: it must be killed too.
  CHECK_FALSE(run_token_command("sleep 30 & sleep 30", 300ms, why));
  CHECK(std::chrono::steady_clock::now() - start < 10s);
  CHECK(why == "--token-command printed no token within 0.3 s");
}

TEST_CASE("--token-command reads nothing of relay-chat's input") {
  std::string why;
  CHECK(run_token_command("cat; echo from-command", 5s, why) == "from-command");
}

TEST_CASE("--token-file: read again at every fetch") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("relay-token-source-test-" + std::to_string(::getpid()));
  const TokenSource source{.file = path.string(), .command = ""};
  std::string why;
  CHECK_FALSE(fetch_token(source, why));
  CHECK(why == "--token-file " + path.string() + ": no token there");
  std::ofstream(path) << "first\n";
  CHECK(fetch_token(source, why) == "first");
  std::ofstream(path) << "second\n";
  CHECK(fetch_token(source, why) == "second");
  std::filesystem::remove(path);
}
