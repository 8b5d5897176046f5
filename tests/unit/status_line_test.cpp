#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "cli/ui/sanitize.hpp"
#include "cli/ui/status_line.hpp"

namespace {

using namespace relay::cli::ui;
using relay::cli::ConnectionState;

StatusLineParts outage_with_unsent_lines() {
  StatusLineParts parts;
  parts.connection.state = ConnectionState::reconnecting;
  parts.connection.attempt = 3;
  parts.connection.retry_in = std::chrono::milliseconds(2300);
  parts.room = "lobby";
  parts.target = "ipv4:127.0.0.1:50051,127.0.0.1:50052";
  parts.unsent = 2;
  parts.oldest_unsent = "hello there, this is a long line";
  return parts;
}

}  // namespace

TEST_CASE("the status line keeps the connection, its countdown and the unsent count in view") {
  const StatusLineParts parts = outage_with_unsent_lines();
  SUBCASE("wide: every part in full") {
    CHECK(format_status_line(parts, 120) ==
          "reconnecting in 2.3 s, attempt 3 \u00b7 (sending 2) hello there, this i\u2026 "
          "\u00b7 #lobby \u00b7 127.0.0.1:50051 +1");
  }
  SUBCASE("80 columns: the relay goes first") {
    CHECK(format_status_line(parts, 79) ==
          "reconnecting in 2.3 s, attempt 3 \u00b7 (sending 2) hello there, this i\u2026 "
          "\u00b7 #lobby");
  }
  SUBCASE("40 columns: brief forms, nothing cut") {
    CHECK(format_status_line(parts, 39) == "retry in 2.3 s \u00b7 (sending 2) \u00b7 #lobby");
  }
  SUBCASE("30 columns: the room goes") {
    CHECK(format_status_line(parts, 29) == "retry in 2.3 s \u00b7 (sending 2)");
  }
  SUBCASE("never wider than the screen") {
    for (std::size_t columns = 9; columns < 130; ++columns) {
      CAPTURE(columns);
      CHECK(display_width(format_status_line(parts, columns)) <= columns);
    }
  }
}

TEST_CASE("connected, the status line names the relay serving the stream") {
  StatusLineParts parts;
  parts.connection.state = ConnectionState::connected;
  parts.connection.relay = "ipv4:127.0.0.1:50052";
  parts.target = "ipv4:127.0.0.1:50051,127.0.0.1:50052";
  parts.room = "lobby";
  CHECK(format_status_line(parts, 79) == "connected \u00b7 #lobby \u00b7 127.0.0.1:50052");
  parts.connection.state = ConnectionState::connecting;
  CHECK(format_status_line(parts, 79) == "connecting \u00b7 #lobby \u00b7 127.0.0.1:50051 +1");
}

TEST_CASE("what a reconnect found shows after the room while it is news") {
  StatusLineParts parts;
  parts.connection.state = ConnectionState::connected;
  parts.room = "lobby";
  parts.target = "relay:1";
  parts.event = "numbering restarted";
  CHECK(format_status_line(parts, 79) ==
        "connected \u00b7 #lobby \u00b7 numbering restarted \u00b7 relay:1");
  CHECK(format_status_line(parts, 40) == "connected \u00b7 #lobby \u00b7 numbering restarted");
}

TEST_CASE("addresses are shortened the way people write them") {
  CHECK(abbreviate_address("ipv4:127.0.0.1:50051") == "127.0.0.1:50051");
  CHECK(abbreviate_address("ipv6:[::1]:50051") == "[::1]:50051");
  CHECK(abbreviate_address("dns:///relay.example:50051") == "relay.example:50051");
  CHECK(abbreviate_address("ipv4:10.0.0.1:1,10.0.0.2:1,10.0.0.3:1") == "10.0.0.1:1 +2");
  CHECK(abbreviate_address("relay\x1b[2J:1") == "relay^[[2J:1");
}
