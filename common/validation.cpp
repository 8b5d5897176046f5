#include "common/validation.hpp"

#include <algorithm>

namespace relay::common {
namespace {

bool is_name_character(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool is_printable_ascii(unsigned char c) { return c >= 0x21 && c <= 0x7e; }

// What a name-like value may hold, stated for people as "1-64 characters of
// <alphabet>".
struct NameRule {
  std::string_view what;
  std::size_t max_bytes;
  bool (*allowed)(unsigned char);
  std::string_view alphabet;
};

std::optional<std::string> check_name(const NameRule& rule, std::string_view value) {
  const bool all_allowed = std::all_of(value.begin(), value.end(), [&rule](char c) {
    return rule.allowed(static_cast<unsigned char>(c));
  });
  if (!value.empty() && value.size() <= rule.max_bytes && all_allowed) {
    return std::nullopt;
  }
  // A long value is cut when quoted, so say how long it was.
  const std::string got = value.size() > rule.max_bytes
                              ? std::to_string(value.size()) + " bytes: " + quote_for_humans(value)
                              : quote_for_humans(value);
  return std::string(rule.what) + " must be 1-" + std::to_string(rule.max_bytes) +
         " characters of " + std::string(rule.alphabet) + ", got " + got;
}

constexpr std::string_view kNameAlphabet = "A-Z a-z 0-9 _ . -";

// The offset of the first byte that does not begin a well-formed UTF-8
// sequence (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequences), or npos when all of `text` is valid.
std::size_t find_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    char32_t code_point = 0;
    char32_t smallest = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
      smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
      smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
      smallest = 0x10000;
    } else {
      return i;  // a continuation byte or 0xF8-0xFF where a sequence must start
    }
    if (text.size() - i < length) {
      return i;
    }
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) {
        return i;
      }
      code_point = (code_point << 6) | (next & 0x3F);
    }
    const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
    if (code_point < smallest || code_point > 0x10FFFF || surrogate) {
      return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::string> validate_room_name(std::string_view room) {
  if (auto problem =
          check_name({"room name", kMaxRoomNameBytes, is_name_character, kNameAlphabet}, room)) {
    return problem;
  }
  if (room.front() == '.') {
    return "room name must not start with '.', got " + quote_for_humans(room);
  }
  return std::nullopt;
}

std::optional<std::string> validate_user_name(std::string_view user) {
  return check_name({"user name", kMaxUserNameBytes, is_name_character, kNameAlphabet}, user);
}

std::string to_user_name(std::string_view name) {
  std::string result;
  bool replacing = false;
  for (const char c : name) {
    if (is_name_character(static_cast<unsigned char>(c))) {
      result += c;
      replacing = false;
    } else if (!replacing) {
      result += '_';
      replacing = true;
    }
  }
  result.resize(std::min(result.size(), kMaxUserNameBytes));
  return result;
}

std::optional<std::string> validate_body(std::string_view body, std::size_t max_body_bytes) {
  if (body.empty()) {
    return "message body must not be empty";
  }
  // Not quoted: a prefix of a huge body tells the sender nothing.
  if (body.size() > max_body_bytes) {
    return "message body must be at most " + std::to_string(max_body_bytes) + " bytes, got " +
           std::to_string(body.size()) + " bytes";
  }
  if (const auto bad = find_invalid_utf8(body); bad != std::string_view::npos) {
    return "message body must be valid UTF-8, got invalid bytes at offset " + std::to_string(bad) +
           ": " + quote_for_humans(body.substr(bad), 16);
  }
  return std::nullopt;
}

std::optional<std::string> validate_client_message_id(std::string_view id) {
  return check_name({"client message id", kMaxClientMessageIdBytes, is_printable_ascii,
                     "printable ASCII without spaces"},
                    id);
}

std::string quote_for_humans(std::string_view value, std::size_t max_bytes) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string quoted = "\"";
  for (const char c : value.substr(0, max_bytes)) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\r':
        quoted += "\\r";
        break;
      case '\t':
        quoted += "\\t";
        break;
      default:
        if (byte >= 0x20 && byte < 0x7f) {
          quoted += c;
        } else {
          quoted += "\\x";
          quoted += kHexDigits[byte >> 4];
          quoted += kHexDigits[byte & 0x0F];
        }
    }
  }
  quoted += '"';
  // Outside the quotes, so a cut value is never mistaken for one ending in "...".
  if (value.size() > max_bytes) {
    quoted += "...";
  }
  return quoted;
}

std::optional<std::string> validate_publish(std::string_view room, std::string_view id,
                                            std::string_view body, std::size_t max_body_bytes) {
  if (auto error = validate_room_name(room)) {
    return error;
  }
  if (auto error = validate_client_message_id(id)) {
    return error;
  }
  return validate_body(body, max_body_bytes);
}

}  // namespace relay::common
