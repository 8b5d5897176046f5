// relay-chat health against real relays: serving, draining, stopped. A relay
// that is not there or never answers is in cli_test.cpp with the other modes.
#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/child_process.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> health(const std::string& target, std::vector<std::string> args = {}) {
  std::vector<std::string> all{relay_chat_path(), "--relay", target, "health"};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

}  // namespace

TEST_CASE(
    "health exits 0 and says SERVING for a relay that serves, for the relay and its service") {
  RelayProcess relay;
  ChildProcess overall(health(relay.target()), "");
  REQUIRE(overall.wait_exit(10s) == 0);
  CHECK(overall.out() == "the relay at " + relay.target() + " is SERVING\n");
  CHECK(overall.err().empty());

  ChildProcess service(health(relay.target(), {"--service", "relay.v1.Relay"}), "");
  REQUIRE(service.wait_exit(10s) == 0);
  CHECK(service.out() ==
        "service relay.v1.Relay of the relay at " + relay.target() + " is SERVING\n");
}

TEST_CASE("health exits 1 with SERVICE_UNKNOWN for a service the relay does not serve") {
  RelayProcess relay;
  ChildProcess unknown(health(relay.target(), {"--service", "no.such.Service"}), "");
  REQUIRE(unknown.wait_exit(10s) == 1);
  CHECK(unknown.out().empty());
  CHECK(unknown.err().find("no.such.Service") != std::string::npos);
  CHECK(unknown.err().find("SERVICE_UNKNOWN") != std::string::npos);
}

TEST_CASE("health exits 1 with NOT_SERVING while the relay drains, within its timeout") {
  // The drain waits for a stalled stream's queue, so the relay stays up and
  // says NOT_SERVING for the whole grace period. The stalled stream first
  // absorbs what flow control and the socket buffers take (4-6 MB), so
  // publish several times that; its queue is large enough not to cut it off.
  RelayProcess relay({"--shutdown-grace-ms", "20000", "--publish-rate-per-second", "0",
                      "--subscriber-queue-max-bytes", "1073741824", "--subscriber-queue-max-frames",
                      "100000"});
  ChatClient publisher(relay.target(), "pub");
  join_and_wait(publisher, "feed");
  StalledReader stalled(relay.target(), "stalled");
  REQUIRE(stalled.join("feed"));
  const std::string body(32 * 1024, 'x');
  for (int i = 0; i < 400; ++i) {
    publish_acked(publisher, "feed", body, "p-" + std::to_string(i));
  }
  relay.signal(SIGTERM);
  REQUIRE(wait_until([&] { return relay.log().find("draining") != std::string::npos; }, 5s));

  const auto started = std::chrono::steady_clock::now();
  ChildProcess draining(health(relay.target(), {"--timeout", "2"}), "");
  REQUIRE(draining.wait_exit(4s) == 1);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(draining.out().empty());
  CAPTURE(draining.err());
  CHECK(draining.err().find("the relay at " + relay.target() + " is NOT_SERVING") !=
        std::string::npos);
  CHECK_FALSE(relay.wait_exit(0ms).has_value());
}

TEST_CASE("health exits 1 and says the relay cannot be reached once it has stopped") {
  RelayProcess relay;
  relay.signal(SIGTERM);
  REQUIRE(relay.wait_exit(10s) == 0);
  const auto started = std::chrono::steady_clock::now();
  ChildProcess stopped(health(relay.target()), "");
  REQUIRE(stopped.wait_exit(5s) == 1);
  // A refused connection is known at once; only the grace given to a relay
  // that is starting (about a second) is waited out, not the 3 s timeout.
  CHECK(std::chrono::steady_clock::now() - started < 2500ms);
  CAPTURE(stopped.err());
  CHECK(stopped.err().find("cannot reach a relay at " + relay.target() + ": ") !=
        std::string::npos);
  CHECK(stopped.err().find("refused") != std::string::npos);
}
