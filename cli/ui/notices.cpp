#include "cli/ui/notices.hpp"

#include <array>

#include "cli/ui/sanitize.hpp"

namespace relay::cli::ui {
namespace {

constexpr std::string_view kSeparator = " \u00b7 ";

std::string room_tag(const std::string& room) { return "#" + sanitize_for_terminal(room); }

// "2.3 s": a tenth of a second is as precise as a person needs here.
std::string seconds_text(std::chrono::milliseconds wait) {
  const auto tenths = (wait.count() + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

std::string plural(std::uint64_t count, std::string_view noun) {
  return std::to_string(count) + " " + std::string(noun) + (count == 1 ? "" : "s");
}

std::string describe_status(const ConnectionStatus& status, const std::string& target,
                            const std::string& room) {
  std::string text;
  const auto add = [&text](std::string_view part) {
    if (!text.empty()) {
      text += kSeparator;
    }
    text += part;
  };
  if (!target.empty()) {
    add(sanitize_for_terminal(target));
  }
  if (!room.empty()) {
    add(room_tag(room));
  }
  add(describe_connection(status));
  return text;
}

std::string describe_connection(const ConnectionStatus& status, bool brief) {
  const std::string attempt =
      status.attempt > 0 && !brief ? ", attempt " + std::to_string(status.attempt) : "";
  switch (status.state) {
    case ConnectionState::reconnecting:
      if (status.retry_in.count() > 0) {
        return (brief ? "retry in " : "reconnecting in ") + seconds_text(status.retry_in) + attempt;
      }
      return "reconnecting" + attempt;
    case ConnectionState::connecting:
      return status.attempt > 0 ? "reconnecting" + attempt : "connecting";
    case ConnectionState::closed:
      return "disconnected";
    case ConnectionState::connected:
      break;
  }
  return std::string(state_name(status.state));
}

std::string describe_rejoin(std::uint64_t replayed, std::uint64_t missed, bool restarted) {
  std::string text = restarted ? "numbering restarted" : "resumed";
  if (replayed > 0) {
    text += ", " + std::to_string(replayed) + " replayed";
  }
  if (missed > 0) {
    text = (restarted || replayed > 0 ? text + ", " : "") + "missed " + std::to_string(missed);
  }
  return text;
}

std::string describe_joined(const v1::Joined& joined, bool resumed) {
  std::string text = (resumed ? "rejoined " : "joined ") + room_tag(joined.room());
  if (joined.replayed() > 0) {
    text += ", " + std::to_string(joined.replayed()) + " replayed";
  }
  if (joined.missed() > 0) {
    text += "; " + plural(joined.missed(), "message") +
            " missed: the room's history no longer holds them";
  }
  if (joined.epoch_changed()) {
    text += "; the room was restarted, messages from before the restart are gone";
  }
  return text;
}

bool joined_lost_messages(const v1::Joined& joined) {
  return joined.missed() > 0 || joined.epoch_changed();
}

std::string describe_presence(const v1::Presence& presence) {
  const std::string verb = presence.kind() == v1::Presence::KIND_LEFT ? " left " : " joined ";
  return sanitize_for_terminal(presence.user()) + verb + room_tag(presence.room());
}

std::string describe_error(const v1::ErrorNotice& error) {
  std::string text = "refused";
  if (!error.room().empty()) {
    text += " in " + room_tag(error.room());
  }
  return text + ": " + sanitize_for_terminal(error.message()) + " (" +
         status_code_name(error.code()) + ")";
}

std::string_view state_name(ConnectionState state) {
  switch (state) {
    case ConnectionState::connecting:
      return "connecting";
    case ConnectionState::connected:
      return "connected";
    case ConnectionState::reconnecting:
      return "reconnecting";
    case ConnectionState::closed:
      return "closed";
  }
  return "unknown";
}

}  // namespace relay::cli::ui
