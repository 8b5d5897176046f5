#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "cli/ui/sanitize.hpp"

namespace {

using namespace std::string_literals;
using relay::cli::ui::display_width;
using relay::cli::ui::sanitize_for_terminal;
using relay::cli::ui::truncate_to_width;

// Nothing a terminal acts on: no C0 control, no DEL, no byte of a C1 control
// or of a bidi override, and valid UTF-8 throughout.
bool harmless(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) {
      return false;
    }
    if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      return false;
    }
  }
  return text.find("\u202e") == std::string_view::npos &&
         text.find("\u2066") == std::string_view::npos;
}

}  // namespace

TEST_CASE("printable text, ASCII or not, passes through unchanged") {
  for (const std::string& text : {"hello, world"s, "caf\u00e9 \u00fcber"s, "\u65e5\u672c\u8a9e"s,
                                  "\U0001F600 ok"s, "back\\slash ^caret"s, ""s}) {
    CAPTURE(text);
    CHECK(sanitize_for_terminal(text) == text);
  }
}

TEST_CASE("escape sequences are shown, not obeyed") {
  SUBCASE("colours") { CHECK(sanitize_for_terminal("\x1b[31mred\x1b[0m") == "^[[31mred^[[0m"); }
  SUBCASE("window title") { CHECK(sanitize_for_terminal("\x1b]0;pwned\x07") == "^[]0;pwned^G"); }
  SUBCASE("clear screen and move the cursor") {
    CHECK(sanitize_for_terminal("\x1b[2J\x1b[H") == "^[[2J^[[H");
  }
}

TEST_CASE("C0 controls and DEL become caret notation") {
  CHECK(sanitize_for_terminal("a\nb") == "a^Jb");
  CHECK(sanitize_for_terminal("a\rb") == "a^Mb");
  CHECK(sanitize_for_terminal("a\tb") == "a^Ib");
  CHECK(sanitize_for_terminal("bell\a") == "bell^G");
  CHECK(sanitize_for_terminal("\b\b") == "^H^H");
  CHECK(sanitize_for_terminal("nul\0here"s) == "nul^@here");
  CHECK(sanitize_for_terminal("del\x7f") == "del^?");
}

TEST_CASE("C1 controls become \\u escapes, whether encoded or raw") {
  CHECK(sanitize_for_terminal("\u009b31m") == "\\u009b31m");
  CHECK(sanitize_for_terminal("\u0085") == "\\u0085");
  // A lone 0x9b byte is 8-bit CSI to some terminals and invalid UTF-8.
  CHECK(sanitize_for_terminal("\x9b"
                              "31m") == "\\x9b31m");
}

TEST_CASE("bidi overrides and line separators cannot reorder what follows") {
  CHECK(sanitize_for_terminal("abc\u202edcba") == "abc\\u202edcba");
  CHECK(sanitize_for_terminal("\u2066x\u2069") == "\\u2066x\\u2069");
  CHECK(sanitize_for_terminal("\u200f") == "\\u200f");
  CHECK(sanitize_for_terminal("a\u2028b") == "a\\u2028b");
}

TEST_CASE("invalid UTF-8 shows each bad byte as \\x") {
  CHECK(sanitize_for_terminal("\xff") == "\\xff");
  SUBCASE("overlong encoding of '/'") { CHECK(sanitize_for_terminal("\xc0\xaf") == "\\xc0\\xaf"); }
  SUBCASE("surrogate") { CHECK(sanitize_for_terminal("\xed\xa0\x80") == "\\xed\\xa0\\x80"); }
  SUBCASE("truncated sequence, then good text") {
    CHECK(sanitize_for_terminal("\xe2\x82ok") == "\\xe2\\x82ok");
  }
  SUBCASE("above U+10FFFF") {
    CHECK(sanitize_for_terminal("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
  }
}

TEST_CASE("no single byte or pair of bytes survives in a form a terminal acts on") {
  for (int first = 0; first < 256; ++first) {
    for (int second = 0; second < 256; ++second) {
      const std::string input{static_cast<char>(first), static_cast<char>(second)};
      if (!harmless(sanitize_for_terminal(input))) {
        FAIL_CHECK("harmful output for bytes " << first << ", " << second);
      }
    }
  }
}

TEST_CASE("display width counts columns, not bytes") {
  CHECK(display_width("abc") == 3);
  CHECK(display_width("caf\u00e9") == 4);
  CHECK(display_width("\u65e5\u672c") == 4);
  CHECK(display_width("e\u0301") == 1);
  CHECK(display_width("\U0001F600") == 2);
  CHECK(display_width("") == 0);
}

TEST_CASE("truncating to a width never cuts a character in two") {
  CHECK(truncate_to_width("hello", 3) == "hel");
  CHECK(truncate_to_width("hello", 10) == "hello");
  CHECK(truncate_to_width("\u65e5\u672c\u8a9e", 5) == "\u65e5\u672c");
  CHECK(truncate_to_width("caf\u00e9!", 4) == "caf\u00e9");
  CHECK(truncate_to_width("abc", 0).empty());
}
