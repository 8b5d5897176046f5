#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "cli/session/chat_session.hpp"

namespace relay::cli::ui {

// What the interactive chat's status line reports. Text fields are raw:
// format_status_line sanitizes them.
struct StatusLineParts {
  // retry_in is the time left before the scheduled reconnect.
  ConnectionStatus connection;
  std::string room;
  // The relay asked for (--relay); the one serving us is connection.relay.
  std::string target;
  std::size_t unsent = 0;
  std::string oldest_unsent;
  // What just happened ("resumed, 12 replayed"), or "".
  std::string event;
};

// The status line at most `columns` wide. What matters most comes first and
// is the last to go when the screen is narrow: the connection and its
// countdown, our lines not yet delivered, the room, what just happened, the
// relay. Every part starts in a short form ("retry in 2.3 s", "(sending 2)")
// and, in that order, takes its full form ("reconnecting in 2.3 s, attempt
// 3", "(sending 2) hello") if the line still fits; parts that do not fit even
// short are left out, from the least important.
std::string format_status_line(const StatusLineParts& parts, std::size_t columns);

// An address as people read it: "127.0.0.1:50051" for gRPC's
// "ipv4:127.0.0.1:50051", "relay.example:50051" for
// "dns:///relay.example:50051", "127.0.0.1:50051 +1" for a list of two.
// Sanitized.
std::string abbreviate_address(std::string_view address);

}  // namespace relay::cli::ui
