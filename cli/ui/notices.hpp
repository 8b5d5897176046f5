#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cli/session/chat_session.hpp"
#include "cli/session/status_text.hpp"

namespace relay::cli::ui {

// Sentences for people about session events, shared by the plain renderer
// and the terminal. Every string returned is safe to write to a terminal:
// room names, user names and relay messages inside it are sanitized.

// "127.0.0.1:50051 · #lobby · connected", "... · reconnecting in 2.3 s,
// attempt 3"; an empty target or room is left out.
std::string describe_status(const ConnectionStatus& status, const std::string& target,
                            const std::string& room);
// The connection alone: "connected", "reconnecting in 2.3 s, attempt 3"
// while a reconnect is scheduled, "reconnecting, attempt 3" while that
// attempt is under way (a first connection is just "connecting"). `brief`,
// for narrow screens, leaves the attempt out and says "retry in 2.3 s".
std::string describe_connection(const ConnectionStatus& status, bool brief = false);
// What rejoining after a reconnect found: "resumed, 12 replayed", "missed 3",
// "numbering restarted" (the room's history began again: nothing was
// resumed), or just "resumed" when nothing was missing.
std::string describe_rejoin(std::uint64_t replayed, std::uint64_t missed, bool restarted);
// "joined #lobby", "rejoined #lobby, 12 replayed; 3 messages missed, ...".
std::string describe_joined(const v1::Joined& joined, bool resumed);
// Whether a Joined says messages are gone for good (worth a warning).
bool joined_lost_messages(const v1::Joined& joined);
// "alice joined #lobby", "alice left #lobby".
std::string describe_presence(const v1::Presence& presence);
// "refused in #lobby: message body must be ... (INVALID_ARGUMENT)".
std::string describe_error(const v1::ErrorNotice& error);

// "1 message", "3 messages": `noun` is singular and takes an "s".
std::string plural(std::uint64_t count, std::string_view noun);

using cli::status_code_name;
// "connecting", "connected", "reconnecting", "closed".
std::string_view state_name(ConnectionState state);

}  // namespace relay::cli::ui
