#pragma once

#include <string>
#include <string_view>

#include "cli/session/chat_session.hpp"

namespace relay::cli::ui {

// How lines look on the interactive terminal. With colour off every function
// returns plain text; with it on, ANSI SGR sequences around the parts. All
// untrusted text inside is sanitized.

// The SGR colour of a sender's name: the same name gets the same one of eight
// colours in every run and on every machine (FNV-1a of the name), so a
// reader learns to recognise people by colour.
int sender_color(std::string_view sender);

// "12:04:05 #lobby alice: hello" (local time). Our own messages (sender ==
// `self`) have the name in bold and a "✓" after the text: the relay has
// numbered and delivered them.
std::string format_terminal_message(const v1::Message& message, const std::string& self,
                                    bool color);

// "-- text" (dim) for information, "!! text" (yellow) for warnings.
std::string format_terminal_notice(std::string_view sanitized_text, bool warning, bool color);

// The status line, cut to `columns`, in reverse video.
std::string format_status_bar(std::string_view sanitized_text, std::size_t columns, bool color);

struct InputLine {
  std::string text;
  std::size_t cursor_column;
};

// The input line: `prompt` and as much of `text` as fits in `columns`, then a
// carriage return and a move right to the cursor's column (`cursor` is a byte
// offset into `text`). A line too long for the screen scrolls sideways;
// `view_start`, the first byte shown, is kept by the caller between calls so
// that the view moves only when the cursor leaves it. Widths are those of the
// sanitized text, which is what is shown.
InputLine format_input_line(std::string_view prompt, const std::string& text, std::size_t cursor,
                            std::size_t columns, std::size_t& view_start);

}  // namespace relay::cli::ui
