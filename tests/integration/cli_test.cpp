#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/child_process.hpp"
#include "tests/integration/relay_process.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> chat(const RelayProcess& relay, std::vector<std::string> args) {
  std::vector<std::string> all{relay_chat_path(), "--relay", relay.target()};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

}  // namespace

TEST_CASE("plain mode publishes stdin lines, exits 0 once acknowledged, and follow prints them") {
  RelayProcess relay;
  ChildProcess follower(chat(relay, {"follow", "r"}), "");
  // The follower is live once it has joined; it says so on stderr.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (follower.err().find("joined #r") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(follower.err().find("joined #r") != std::string::npos);

  ChildProcess sender(chat(relay, {"--plain", "--room", "r", "--user", "ann"}), "a\nb\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  CHECK(sender.out().find("[r] #1 ann: a") != std::string::npos);
  CHECK(sender.out().find("[r] #2 ann: b") != std::string::npos);

  REQUIRE(follower.wait_for_output("[r] #2 ann: b", 10s));
  CHECK(follower.out() == "[r] #1 ann: a\n[r] #2 ann: b\n");
  follower.signal(SIGINT);
  CHECK(follower.wait_exit(10s) == 0);
}

TEST_CASE("--json prints one JSON object per delivered message") {
  RelayProcess relay;
  ChildProcess sender(chat(relay, {"--json", "--room", "r", "--user", "ann"}), "hello\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  CHECK(sender.out().find(R"("body":"hello")") != std::string::npos);
  CHECK(sender.out().find(R"("type":"message")") != std::string::npos);
}

TEST_CASE("plain mode exits non-zero with the reason when the relay refuses a line") {
  RelayProcess relay({"--max-body-bytes", "10"});
  ChildProcess sender(chat(relay, {"--plain", "--room", "r"}), "this line is too long\n");
  REQUIRE(sender.wait_exit(20s) == 1);
  CHECK(sender.err().find("INVALID_ARGUMENT") != std::string::npos);
  CHECK(sender.err().find("the relay refused 1 line\n") != std::string::npos);
}

TEST_CASE("send publishes a file in one batch and prints the summary") {
  RelayProcess relay;
  ChildProcess sender(chat(relay, {"send", "r"}), "one\ntwo\n\nthree\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  CHECK(sender.out() == "3 accepted, 0 rejected (#1..#3)\n");
  ChildProcess history(chat(relay, {"history", "r", "-n", "2"}), "");
  REQUIRE(history.wait_exit(20s) == 0);
  CHECK(history.out().find("#2") != std::string::npos);
  CHECK(history.out().find("three") != std::string::npos);
  CHECK(history.out().find("one") == std::string::npos);
}

TEST_CASE("a bad flag exits 2 with a message") {
  RelayProcess relay;
  ChildProcess bad(chat(relay, {"--room", "bad room"}), "");
  CHECK(bad.wait_exit(10s) == 2);
  CHECK_FALSE(bad.err().empty());
}

TEST_CASE("plain mode paces itself to the relay's announced rate: every line is accepted") {
  RelayProcess relay({"--publish-rate-per-second", "100", "--publish-burst", "10"});
  std::string lines;
  for (int i = 0; i < 150; ++i) {
    lines += "line " + std::to_string(i) + "\n";
  }
  ChildProcess sender(chat(relay, {"--plain", "--room", "r"}), lines);
  REQUIRE(sender.wait_exit(30s) == 0);
  CHECK(sender.out().find("#150 ") != std::string::npos);
  CHECK(sender.err().find("RESOURCE_EXHAUSTED") == std::string::npos);
}

TEST_CASE("a line over the relay's announced body limit is refused at once, and the rest go on") {
  RelayProcess relay({"--max-body-bytes", "100"});
  ChildProcess sender(chat(relay, {"--plain", "--room", "r"}),
                      "short\n" + std::string(500, 'x') + "\nafter\n");
  REQUIRE(sender.wait_exit(20s) == 1);
  CHECK(sender.out().find("#2 ") != std::string::npos);
  CHECK(sender.out().find("after") != std::string::npos);
}

TEST_CASE("history -n N beyond the relay's per-call limit prints the newest N, in order") {
  RelayProcess relay;
  std::string lines;
  for (int i = 1; i <= 150; ++i) {
    lines += "line " + std::to_string(i) + "\n";
  }
  ChildProcess sender(chat(relay, {"--user", "ann", "send", "r"}), lines);
  REQUIRE(sender.wait_exit(20s) == 0);
  REQUIRE(sender.out() == "150 accepted, 0 rejected (#1..#150)\n");

  for (const int count : {150, 101, 5}) {
    CAPTURE(count);
    std::string expected;
    for (int i = 151 - count; i <= 150; ++i) {
      expected += "[r] #" + std::to_string(i) + " ann: line " + std::to_string(i) + "\n";
    }
    ChildProcess history(chat(relay, {"history", "r", "-n", std::to_string(count)}), "");
    REQUIRE(history.wait_exit(20s) == 0);
    CHECK(history.out() == expected);
  }
}

TEST_CASE("a $USER that is no valid name is mapped to one, and relay-chat says so once") {
  RelayProcess relay;
  std::vector<std::string> args = chat(relay, {"send", "r"});
  args.insert(args.begin(), {"/usr/bin/env", "USER=jane@corp.com"});
  ChildProcess sender(args, "hello\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  const std::string notice = R"($USER "jane@corp.com" is not a valid user name)";
  const std::string err = sender.err();
  CHECK(err.find(notice) != std::string::npos);
  CHECK(err.find(notice) == err.rfind(notice));
  CHECK(err.find(R"(using "jane_corp.com")") != std::string::npos);

  ChildProcess history(chat(relay, {"--user", "ann", "history", "r"}), "");
  REQUIRE(history.wait_exit(20s) == 0);
  CHECK(history.out() == "[r] #1 jane_corp.com: hello\n");

  // A name given with --user leaves $USER unread.
  args.insert(args.end() - 2, {"--user", "jane"});
  ChildProcess named(args, "again\n");
  REQUIRE(named.wait_exit(20s) == 0);
  CHECK(named.err().find("$USER") == std::string::npos);
}
