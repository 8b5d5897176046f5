#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace relay::cli::ui {

// Makes untrusted text (other users' names and messages) safe to write to a
// terminal: nothing in the result can move the cursor, change colours, set the
// window title or reorder what follows it.
//   C0 controls and DEL   caret notation: ESC -> "^[", newline -> "^J", DEL -> "^?"
//   C1 controls U+0080-9F "\u009b"
//   bidi and line/paragraph separators (U+061C, U+200E-F, U+202A-E, U+2066-9, U+2028-9)
//                         "\u202e"
//   invisible characters (see is_invisible: zero-width spaces and joiners,
//   word joiners, the byte order mark, fillers, tags) "\u200b", "\U000e0041",
//                         so that two names or messages that look the same
//                         are the same; a zero-width joiner between two
//                         emoji stays, as it only joins them into one picture
//   invalid UTF-8 bytes   "\xff", one escape per byte
// Every other character, including printable non-ASCII UTF-8, is kept.
std::string sanitize_for_terminal(std::string_view text);

// Characters that take no room and show nothing: escaped by
// sanitize_for_terminal (the catalogue its tests check).
bool is_invisible(char32_t c);
// Emoji and the selector that asks for their emoji form: a zero-width joiner
// between two of them builds one picture (a family, a flag, a profession),
// and sanitize_for_terminal keeps it.
bool is_emoji(char32_t c);

// Columns `text` takes on a terminal, for text that is already sanitized:
// East Asian wide characters and most emoji count 2, combining marks and
// zero-width characters 0, anything else 1.
std::size_t display_width(std::string_view text);

// The longest prefix of `text` that is at most `max_columns` wide, never
// cutting a character in two.
std::string_view truncate_to_width(std::string_view text, std::size_t max_columns);

}  // namespace relay::cli::ui
