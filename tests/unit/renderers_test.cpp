#include <doctest/doctest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/ui/notices.hpp"
#include "cli/ui/renderers.hpp"

namespace {

using namespace relay::cli::ui;
using nlohmann::json;
using relay::cli::ConnectionState;
using relay::cli::ConnectionStatus;
namespace v1 = relay::v1;

v1::Message message(const std::string& room, std::uint64_t sequence, const std::string& sender,
                    const std::string& body) {
  v1::Message result;
  result.set_room(room);
  result.set_sequence(sequence);
  result.set_epoch(7);
  result.set_sender(sender);
  result.set_client_message_id("id-" + std::to_string(sequence));
  result.set_server_time_us(1'700'000'000'123'456);
  result.set_body(body);
  return result;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(line);
  }
  return lines;
}

ConnectionStatus reconnecting(int attempt, int retry_in_ms, std::string error = "") {
  ConnectionStatus status;
  status.state = ConnectionState::reconnecting;
  status.attempt = attempt;
  status.retry_in = std::chrono::milliseconds(retry_in_ms);
  status.last_error = std::move(error);
  return status;
}

}  // namespace

TEST_CASE("a plain line is [room] #seq sender: text") {
  CHECK(format_plain_line(message("lobby", 42, "alice", "hello")) == "[lobby] #42 alice: hello");
}

TEST_CASE("a plain line shows escapes and controls instead of obeying them") {
  CHECK(format_plain_line(message("lobby", 1, "mallory", "\x1b[2Jgone\nfake line")) ==
        "[lobby] #1 mallory: ^[[2Jgone^Jfake line");
  CHECK(format_plain_line(message("lobby", 2, "eve", "\u202eevil\xff")) ==
        "[lobby] #2 eve: \\u202eevil\\xff");
}

TEST_CASE("a JSON message line carries every field of the message") {
  const json parsed = json::parse(format_json_line(message("lobby", 42, "alice", "hi \"you\"")));
  CHECK(parsed == json{{"type", "message"},
                       {"room", "lobby"},
                       {"seq", 42},
                       {"epoch", 7},
                       {"sender", "alice"},
                       {"id", "id-42"},
                       {"time_us", 1'700'000'000'123'456},
                       {"body", "hi \"you\""}});
}

TEST_CASE("a JSON line is one line of valid UTF-8 whatever the body holds") {
  const std::string line = format_json_line(message("lobby", 1, "bob", "a\nb\x1b[1m\xff\xc0z"));
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\x1b') == std::string::npos);
  const json parsed = json::parse(line);
  CHECK(parsed["body"] == "a\nb\x1b[1m\ufffd\ufffdz");
}

TEST_CASE("JSON lines for the other events") {
  SUBCASE("joined") {
    v1::Joined joined;
    joined.set_room("lobby");
    joined.set_epoch(3);
    joined.set_sequence(40);
    joined.set_replayed(12);
    joined.set_missed(2);
    joined.set_members(5);
    const json parsed = json::parse(format_json_line(joined, true));
    CHECK(parsed == json{{"type", "joined"},
                         {"room", "lobby"},
                         {"epoch", 3},
                         {"seq", 40},
                         {"replayed", 12},
                         {"missed", 2},
                         {"epoch_changed", false},
                         {"members", 5},
                         {"resumed", true}});
  }
  SUBCASE("presence") {
    v1::Presence presence;
    presence.set_room("lobby");
    presence.set_user("bob");
    presence.set_kind(v1::Presence::KIND_LEFT);
    CHECK(json::parse(format_json_line(presence)) ==
          json{{"type", "presence"}, {"room", "lobby"}, {"user", "bob"}, {"event", "left"}});
  }
  SUBCASE("ack") {
    v1::PublishAck ack;
    ack.set_room("lobby");
    ack.set_client_message_id("m-1");
    ack.set_sequence(5);
    ack.set_epoch(3);
    ack.set_duplicate(true);
    CHECK(json::parse(format_json_line(ack)) == json{{"type", "ack"},
                                                     {"room", "lobby"},
                                                     {"id", "m-1"},
                                                     {"seq", 5},
                                                     {"epoch", 3},
                                                     {"duplicate", true}});
  }
  SUBCASE("error") {
    v1::ErrorNotice error;
    error.set_code(3);
    error.set_message("message body must not be empty");
    error.set_room("lobby");
    error.set_client_message_id("m-2");
    CHECK(json::parse(format_json_line(error)) ==
          json{{"type", "error"},
               {"code", 3},
               {"status", "INVALID_ARGUMENT"},
               {"message", "message body must not be empty"},
               {"room", "lobby"},
               {"id", "m-2"}});
  }
  SUBCASE("status") {
    CHECK(json::parse(format_json_line(reconnecting(3, 2300, "connection refused"))) ==
          json{{"type", "status"},
               {"state", "reconnecting"},
               {"attempt", 3},
               {"retry_in_ms", 2300},
               {"error", "connection refused"}});
  }
  SUBCASE("notice") {
    CHECK(json::parse(format_notice_json_line("bye")) == json{{"type", "notice"}, {"text", "bye"}});
  }
}

TEST_CASE("the plain renderer keeps messages and notices apart") {
  std::ostringstream out;
  std::ostringstream notices;
  PlainRenderer renderer(out, notices, "127.0.0.1:50051");

  renderer.on_message(message("lobby", 1, "alice", "hello"));
  v1::Joined joined;
  joined.set_room("lobby");
  joined.set_replayed(3);
  joined.set_missed(2);
  renderer.on_joined(joined, true);
  renderer.on_ack(v1::PublishAck{});
  renderer.on_status(reconnecting(2, 1500, "socket closed"));
  renderer.notice("bye\x1b");

  CHECK(out.str() == "[lobby] #1 alice: hello\n");
  const auto lines = lines_of(notices.str());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] ==
        "relay-chat: rejoined #lobby, 3 replayed; 2 messages missed: the room's history no "
        "longer holds them");
  CHECK(lines[1] ==
        "relay-chat: 127.0.0.1:50051 \u00b7 reconnecting in 1.5 s, attempt 2 (last error: socket "
        "closed)");
  CHECK(lines[2] == "relay-chat: bye^[");
}

TEST_CASE("renderers write whole lines when called from several threads") {
  std::ostringstream out;
  JsonRenderer renderer(out);
  constexpr int kThreads = 4;
  constexpr int kMessagesPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&renderer, t] {
      for (int i = 1; i <= kMessagesPerThread; ++i) {
        renderer.on_message(message("room" + std::to_string(t), i, "bot", std::string(100, 'x')));
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == kThreads * kMessagesPerThread);
  for (const auto& line : lines) {
    CHECK(json::parse(line)["body"].get<std::string>().size() == 100);
  }
}

TEST_CASE("status descriptions name the relay, the room and the state") {
  ConnectionStatus connected;
  connected.state = ConnectionState::connected;
  CHECK(describe_status(connected, "127.0.0.1:50051", "lobby") ==
        "127.0.0.1:50051 \u00b7 #lobby \u00b7 connected");
  CHECK(describe_status(reconnecting(3, 2345), "127.0.0.1:50051", "lobby") ==
        "127.0.0.1:50051 \u00b7 #lobby \u00b7 reconnecting in 2.3 s, attempt 3");
  CHECK(describe_status(reconnecting(1, 0), "", "") == "reconnecting, attempt 1");
  CHECK(describe_status(ConnectionStatus{}, "relay", "") == "relay \u00b7 connecting");
}

TEST_CASE("a retry under way is reconnecting, and a first connection connecting") {
  ConnectionStatus status;
  CHECK(describe_connection(status) == "connecting");
  status.attempt = 3;
  CHECK(describe_connection(status) == "reconnecting, attempt 3");
}

TEST_CASE("a rejoin says what happened: replayed, missed, or the numbering restarted") {
  CHECK(describe_rejoin(0, 0, false) == "resumed");
  CHECK(describe_rejoin(12, 0, false) == "resumed, 12 replayed");
  CHECK(describe_rejoin(0, 3, false) == "missed 3");
  CHECK(describe_rejoin(12, 3, false) == "resumed, 12 replayed, missed 3");
  CHECK(describe_rejoin(0, 0, true) == "numbering restarted");
  CHECK(describe_rejoin(2, 0, true) == "numbering restarted, 2 replayed");
}

TEST_CASE("notices quote untrusted names harmlessly") {
  v1::Presence presence;
  presence.set_room("lobby");
  presence.set_user("\x1b]0;x\x07");
  presence.set_kind(v1::Presence::KIND_JOINED);
  CHECK(describe_presence(presence) == "^[]0;x^G joined #lobby");
  v1::ErrorNotice error;
  error.set_code(8);
  error.set_message("rate limit\r");
  CHECK(describe_error(error) == "refused: rate limit^M (RESOURCE_EXHAUSTED)");
  CHECK(status_code_name(99) == "code 99");
}

TEST_CASE("counts in sentences agree with their noun") {
  CHECK(plural(0, "message") == "0 messages");
  CHECK(plural(1, "message") == "1 message");
  CHECK(plural(2, "line") == "2 lines");
}
