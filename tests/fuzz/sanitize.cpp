// Untrusted names and messages go through sanitize_for_terminal before they
// reach the terminal, so whatever the bytes, nothing that comes out may be
// something a terminal acts on (see the promises in cli/ui/sanitize.hpp).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "cli/ui/sanitize.hpp"
#include "common/validation.hpp"

namespace {

using relay::cli::ui::display_width;
using relay::cli::ui::sanitize_for_terminal;
using relay::cli::ui::truncate_to_width;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

bool valid_utf8(std::string_view text) {
  return text.empty() ||
         !relay::common::validate_body(text, std::numeric_limits<std::size_t>::max());
}

// Code points of text already known to be valid UTF-8.
template <typename Visit>
void for_each_code_point(std::string_view text, Visit visit) {
  for (std::size_t at = 0; at < text.size();) {
    const auto lead = static_cast<unsigned char>(text[at]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
      code_point = (code_point << 6) | (static_cast<unsigned char>(text[at + k]) & 0x3F);
    }
    visit(code_point);
    at += length;
  }
}

bool obeyed_by_terminals(char32_t c) {
  const bool c0_or_del = c < 0x20 || c == 0x7F;
  const bool c1 = c >= 0x80 && c <= 0x9F;
  const bool layout = c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x2028 && c <= 0x202E) ||
                      (c >= 0x2066 && c <= 0x2069);
  return c0_or_del || c1 || layout || relay::cli::ui::is_invisible(c);
}

// Whether text holds something sanitize_for_terminal must change: a zero-width
// joiner between two emoji is the one invisible character that may stay.
bool needs_escaping(std::string_view text) {
  std::vector<char32_t> code_points;
  for_each_code_point(text, [&](char32_t c) { code_points.push_back(c); });
  for (std::size_t i = 0; i < code_points.size(); ++i) {
    const bool joins_emoji = code_points[i] == 0x200D && i > 0 && i + 1 < code_points.size() &&
                             relay::cli::ui::is_emoji(code_points[i - 1]) &&
                             relay::cli::ui::is_emoji(code_points[i + 1]);
    if (obeyed_by_terminals(code_points[i]) && !joins_emoji) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string safe = sanitize_for_terminal(text);

  require(valid_utf8(safe));
  require(!needs_escaping(safe));

  // Safe text passes unchanged, so sanitising twice changes nothing more.
  require(sanitize_for_terminal(safe) == safe);
  if (valid_utf8(text)) {
    require(needs_escaping(text) == (safe != text));
  }

  // The input line and status bar cut sanitised text to the terminal's width.
  const std::size_t width = display_width(safe);
  const std::size_t columns = size == 0 ? 0 : data[0] % 16;
  const std::string_view cut = truncate_to_width(safe, columns);
  require(safe.starts_with(cut));
  require(valid_utf8(cut));
  require(display_width(cut) <= columns);
  require(columns < width || cut.size() == safe.size());
  return 0;
}
