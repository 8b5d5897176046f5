#include "cli/ui/status_line.hpp"

#include <array>
#include <vector>

#include "cli/ui/notices.hpp"
#include "cli/ui/sanitize.hpp"

namespace relay::cli::ui {
namespace {

constexpr std::string_view kSeparator = " \u00b7 ";
// Enough of the oldest unsent line to recognise it, without pushing the
// room and the relay off the line.
constexpr std::size_t kUnsentTextColumns = 20;

struct Part {
  std::string brief;  // "" if the part may be left out entirely
  std::string full;
  bool shown_full = false;
};

std::string elided(const std::string& sanitized, std::size_t columns) {
  if (display_width(sanitized) <= columns) {
    return sanitized;
  }
  return std::string(truncate_to_width(sanitized, columns - 1)) + "\u2026";
}

std::size_t width_of(const std::vector<Part>& parts) {
  std::size_t width = 0;
  for (const Part& part : parts) {
    const std::string& text = part.shown_full ? part.full : part.brief;
    if (!text.empty()) {
      width += (width > 0 ? display_width(kSeparator) : 0) + display_width(text);
    }
  }
  return width;
}

}  // namespace

std::string abbreviate_address(std::string_view address) {
  for (const std::string_view scheme : {"ipv4:", "ipv6:", "dns:///", "dns:"}) {
    if (address.starts_with(scheme)) {
      address.remove_prefix(scheme.size());
      break;
    }
  }
  const std::size_t comma = address.find(',');
  if (comma == std::string_view::npos) {
    return sanitize_for_terminal(address);
  }
  std::size_t others = 0;
  for (std::size_t at = comma; at != std::string_view::npos; at = address.find(',', at + 1)) {
    ++others;
  }
  return sanitize_for_terminal(address.substr(0, comma)) + " +" + std::to_string(others);
}

std::string format_status_line(const StatusLineParts& parts, std::size_t columns) {
  const std::string connection = describe_connection(parts.connection);
  const std::string brief_connection = describe_connection(parts.connection, true);
  std::string sending;
  if (parts.unsent > 0) {
    sending = parts.unsent == 1 ? "(sending)" : "(sending " + std::to_string(parts.unsent) + ")";
  }
  const std::string room = parts.room.empty() ? "" : "#" + sanitize_for_terminal(parts.room);
  const std::string relay = abbreviate_address(
      parts.connection.state == ConnectionState::connected && !parts.connection.relay.empty()
          ? parts.connection.relay
          : parts.target);
  std::vector<Part> line{
      {brief_connection, connection},
      {sending, sending.empty() || parts.oldest_unsent.empty()
                    ? sending
                    : sending + " " +
                          elided(sanitize_for_terminal(parts.oldest_unsent), kUnsentTextColumns)},
      {room, room},
      {"", sanitize_for_terminal(parts.event)},
      {"", relay}};
  while (width_of(line) > columns && line.size() > 1) {
    line.pop_back();
  }
  for (Part& part : line) {
    if (part.full.empty()) {
      continue;
    }
    part.shown_full = true;
    if (width_of(line) > columns) {
      part.shown_full = false;
    }
  }
  std::string text;
  for (const Part& part : line) {
    const std::string& shown = part.shown_full ? part.full : part.brief;
    if (!shown.empty()) {
      text += (text.empty() ? "" : std::string(kSeparator)) + shown;
    }
  }
  return std::string(truncate_to_width(text, columns));
}

}  // namespace relay::cli::ui
