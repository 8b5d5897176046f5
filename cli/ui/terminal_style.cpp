#include "cli/ui/terminal_style.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>

#include "cli/ui/sanitize.hpp"

namespace relay::cli::ui {
namespace {

// Readable on dark and light backgrounds; red is left for warnings.
constexpr std::array<int, 8> kSenderColors{32, 33, 34, 35, 36, 92, 94, 95};

constexpr std::string_view kReset = "\x1b[0m";
constexpr std::string_view kBold = "\x1b[1m";
constexpr std::string_view kDim = "\x1b[2m";
constexpr std::string_view kReverse = "\x1b[7m";
constexpr std::string_view kYellow = "\x1b[33m";

std::string styled(std::string_view sgr, std::string_view text, bool color) {
  if (!color) {
    return std::string(text);
  }
  return std::string(sgr) + std::string(text) + std::string(kReset);
}

std::string clock_time(std::int64_t time_us) {
  const std::time_t seconds = static_cast<std::time_t>(time_us / 1'000'000);
  std::tm local{};
  char text[16] = "--:--:--";
  if (::localtime_r(&seconds, &local) != nullptr) {
    std::strftime(text, sizeof text, "%H:%M:%S", &local);
  }
  return text;
}

std::size_t next_character(const std::string& text, std::size_t at) {
  ++at;
  while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) {
    ++at;
  }
  return at;
}

}  // namespace

int sender_color(std::string_view sender) {
  std::uint32_t hash = 2166136261u;
  for (const char c : sender) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  }
  return kSenderColors[hash % kSenderColors.size()];
}

std::string format_terminal_message(const v1::Message& message, const std::string& self,
                                    bool color) {
  const bool own = !self.empty() && message.sender() == self;
  const std::string sender_sgr =
      own ? std::string(kBold) : "\x1b[" + std::to_string(sender_color(message.sender())) + "m";
  std::string line = styled(kDim, clock_time(message.server_time_us()), color) + " #" +
                     sanitize_for_terminal(message.room()) + " " +
                     styled(sender_sgr, sanitize_for_terminal(message.sender()), color) + ": " +
                     sanitize_for_terminal(message.body());
  if (own) {
    line += " " + styled(kDim, "\u2713", color);
  }
  return line;
}

std::string format_terminal_notice(std::string_view sanitized_text, bool warning, bool color) {
  const std::string text = (warning ? "!! " : "-- ") + std::string(sanitized_text);
  return styled(warning ? kYellow : kDim, text, color);
}

std::string format_status_bar(std::string_view sanitized_text, std::size_t columns, bool color) {
  // Not padded to the full width: a line that fills the screen is the first
  // to wrap when the window narrows, and a wrapped status line is no longer
  // the single row the terminal erases before each frame.
  return styled(kReverse, truncate_to_width(sanitized_text, columns), color);
}

InputLine format_input_line(std::string_view prompt, const std::string& text, std::size_t cursor,
                            std::size_t columns, std::size_t& view_start) {
  const std::size_t prompt_width = display_width(prompt);
  const std::size_t room_for_text = columns > prompt_width ? columns - prompt_width : 1;
  const auto width = [&text](std::size_t from, std::size_t to) {
    return display_width(sanitize_for_terminal(std::string_view(text).substr(from, to - from)));
  };
  if (width(0, text.size()) <= room_for_text) {
    view_start = 0;
  }
  view_start = std::min(view_start, cursor);
  while (width(view_start, cursor) > room_for_text) {
    view_start = next_character(text, view_start);
  }
  InputLine line{std::string(prompt), prompt_width + width(view_start, cursor)};
  line.text += truncate_to_width(sanitize_for_terminal(std::string_view(text).substr(view_start)),
                                 room_for_text);
  line.text += '\r';
  if (line.cursor_column > 0) {
    line.text += "\x1b[" + std::to_string(line.cursor_column) + "C";
  }
  return line;
}

}  // namespace relay::cli::ui
