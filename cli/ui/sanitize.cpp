#include "cli/ui/sanitize.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>

namespace relay::cli::ui {
namespace {

struct Decoded {
  char32_t code_point;
  std::size_t length;
};

// Decodes the well-formed UTF-8 sequence at `text[at]` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or nothing when the byte there
// does not start one.
std::optional<Decoded> decode_at(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) {
    return Decoded{lead, 1};
  }
  std::size_t length = 0;
  char32_t code_point = 0;
  char32_t smallest = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, smallest = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07, smallest = 0x10000;
  } else {
    return std::nullopt;
  }
  if (text.size() - at < length) {
    return std::nullopt;
  }
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[at + k]);
    if ((next & 0xC0) != 0x80) {
      return std::nullopt;
    }
    code_point = (code_point << 6) | (next & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (code_point < smallest || code_point > 0x10FFFF || surrogate) {
    return std::nullopt;
  }
  return Decoded{code_point, length};
}

// Characters that are printable by Unicode's rules but let a sender reorder
// or break the lines that follow them on screen ("Trojan Source" spoofing).
bool is_layout_control(char32_t c) {
  return c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x2028 && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

constexpr char32_t kZeroWidthJoiner = 0x200D;

constexpr char kHexDigits[] = "0123456789abcdef";

void append_hex(std::string& out, std::string_view prefix, std::uint32_t value, int digits) {
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out += kHexDigits[(value >> shift) & 0xF];
  }
}

using Range = std::pair<char32_t, char32_t>;

// A small stand-in for wcwidth(), which depends on the process locale; only
// the cursor position on the input line depends on it, so the common blocks
// are enough.
constexpr std::array<Range, 9> kZeroWidth{{{0x0300, 0x036F},
                                           {0x0483, 0x0489},
                                           {0x0591, 0x05BD},
                                           {0x1AB0, 0x1AFF},
                                           {0x1DC0, 0x1DFF},
                                           {0x200B, 0x200D},
                                           {0x20D0, 0x20FF},
                                           {0xFE00, 0xFE0F},
                                           {0xFE20, 0xFE2F}}};
constexpr std::array<Range, 12> kDoubleWidth{{{0x1100, 0x115F},
                                              {0x2E80, 0x303E},
                                              {0x3041, 0x33FF},
                                              {0x3400, 0x4DBF},
                                              {0x4E00, 0x9FFF},
                                              {0xA000, 0xA4CF},
                                              {0xAC00, 0xD7A3},
                                              {0xF900, 0xFAFF},
                                              {0xFE30, 0xFE4F},
                                              {0xFF00, 0xFF60},
                                              {0xFFE0, 0xFFE6},
                                              {0x1F300, 0x1F64F}}};
constexpr std::array<Range, 3> kDoubleWidthHigh{
    {{0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}}};

template <std::size_t N>
bool in_ranges(const std::array<Range, N>& ranges, char32_t c) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [c](const Range& range) { return c >= range.first && c <= range.second; });
}

std::size_t width_of(char32_t c) {
  if (in_ranges(kZeroWidth, c)) {
    return 0;
  }
  if (in_ranges(kDoubleWidth, c) || in_ranges(kDoubleWidthHigh, c)) {
    return 2;
  }
  return 1;
}

}  // namespace

bool is_emoji(char32_t c) {
  return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) ||
         (c >= 0x2300 && c <= 0x23FF) || (c >= 0x2B00 && c <= 0x2BFF) || c == 0xFE0F;
}

bool is_invisible(char32_t c) {
  constexpr std::array<Range, 16> kInvisible{{{0x00AD, 0x00AD},
                                              {0x034F, 0x034F},
                                              {0x115F, 0x1160},
                                              {0x17B4, 0x17B5},
                                              {0x180B, 0x180F},
                                              {0x200B, 0x200D},
                                              {0x2060, 0x2064},
                                              {0x206A, 0x206F},
                                              {0x3164, 0x3164},
                                              {0xFEFF, 0xFEFF},
                                              {0xFFA0, 0xFFA0},
                                              {0xFFF9, 0xFFFB},
                                              {0x1BCA0, 0x1BCA3},
                                              {0x1D173, 0x1D17A},
                                              {0xE0000, 0xE007F},
                                              {0xE0100, 0xE01EF}}};
  return std::any_of(kInvisible.begin(), kInvisible.end(),
                     [c](const Range& range) { return c >= range.first && c <= range.second; });
}

std::string sanitize_for_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  char32_t previous = 0;
  while (at < text.size()) {
    const auto decoded = decode_at(text, at);
    if (!decoded) {
      append_hex(out, "\\x", static_cast<unsigned char>(text[at]), 2);
      ++at;
      previous = 0;  // what stands before a joiner now is the escape's last digit
      continue;
    }
    const char32_t c = decoded->code_point;
    const std::size_t next_at = at + decoded->length;
    const auto next = next_at < text.size() ? decode_at(text, next_at) : std::nullopt;
    const bool joins_emoji =
        c == kZeroWidthJoiner && is_emoji(previous) && next && is_emoji(next->code_point);
    if (c < 0x20) {
      out += '^';
      out += static_cast<char>(c + 0x40);
    } else if (c == 0x7F) {
      out += "^?";
    } else if ((c >= 0x80 && c <= 0x9F) || is_layout_control(c) ||
               (is_invisible(c) && !joins_emoji)) {
      if (c > 0xFFFF) {
        append_hex(out, "\\U", static_cast<std::uint32_t>(c), 8);
      } else {
        append_hex(out, "\\u", static_cast<std::uint32_t>(c), 4);
      }
    } else {
      out += text.substr(at, decoded->length);
    }
    previous = c;
    at = next_at;
  }
  return out;
}

std::size_t display_width(std::string_view text) {
  std::size_t columns = 0;
  for (std::size_t at = 0; at < text.size();) {
    const auto decoded = decode_at(text, at);
    columns += decoded ? width_of(decoded->code_point) : 1;
    at += decoded ? decoded->length : 1;
  }
  return columns;
}

std::string_view truncate_to_width(std::string_view text, std::size_t max_columns) {
  std::size_t columns = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto decoded = decode_at(text, at);
    const std::size_t width = decoded ? width_of(decoded->code_point) : 1;
    if (columns + width > max_columns) {
      break;
    }
    columns += width;
    at += decoded ? decoded->length : 1;
  }
  return text.substr(0, at);
}

}  // namespace relay::cli::ui
