#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <utility>

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

TEST_CASE("invisible characters are shown, so that look-alike names and messages differ") {
  // The catalogue: each one takes no room and shows nothing on a terminal.
  const std::pair<std::string, std::string> catalogue[] = {
      {"\u00ad", "\\u00ad"},          // soft hyphen
      {"\u034f", "\\u034f"},          // combining grapheme joiner
      {"\u115f", "\\u115f"},          // Hangul choseong filler
      {"\u180e", "\\u180e"},          // Mongolian vowel separator
      {"\u200b", "\\u200b"},          // zero width space
      {"\u200c", "\\u200c"},          // zero width non-joiner
      {"\u200d", "\\u200d"},          // zero width joiner, alone
      {"\u2060", "\\u2060"},          // word joiner
      {"\u2063", "\\u2063"},          // invisible separator
      {"\u206f", "\\u206f"},          // nominal digit shapes
      {"\u3164", "\\u3164"},          // Hangul filler
      {"\ufeff", "\\ufeff"},          // byte order mark
      {"\uffa0", "\\uffa0"},          // halfwidth Hangul filler
      {"\ufff9", "\\ufff9"},          // interlinear annotation anchor
      {"\U0001d173", "\\U0001d173"},  // musical symbol begin beam
      {"\U000e0041", "\\U000e0041"},  // tag latin capital letter A
      {"\U000e0100", "\\U000e0100"},  // variation selector 17
  };
  for (const auto& [raw, shown] : catalogue) {
    CAPTURE(shown);
    CHECK(relay::cli::ui::is_invisible(
        static_cast<char32_t>(std::stoul(shown.substr(2), nullptr, 16))));
    CHECK(sanitize_for_terminal("ann" + raw) == "ann" + shown);
  }
  // A joiner between two emoji builds one picture and stays; elsewhere it
  // hides, and is shown.
  const std::string family = "\U0001f468\u200d\U0001f469\u200d\U0001f467";
  CHECK(sanitize_for_terminal(family) == family);
  CHECK(sanitize_for_terminal("a\u200db") == "a\\u200db");
  CHECK(sanitize_for_terminal("\U0001f468\u200d") == "\U0001f468\\u200d");
  // An escape between an emoji and the joiner is no emoji (found by fuzzing).
  CHECK(sanitize_for_terminal("\U0001f61f\x9f\u200d\U0001f61f") ==
        "\U0001f61f\\x9f\\u200d\U0001f61f");
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
