#include "cli/ui/line_editor.hpp"

#include <utility>

namespace relay::cli::ui {
namespace {

constexpr std::size_t kMaxParameterBytes = 16;

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Length of the character a lead byte starts, or 0 for a byte that cannot
// start one (a stray continuation byte, an overlong lead C0/C1, F5-FF).
std::size_t sequence_length(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) {
    return 2;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    return 4;
  }
  return 0;
}

// The second-byte bounds of RFC 3629's table, which rule out overlong forms,
// surrogates and code points above U+10FFFF; C1 controls (C2 80-9F) are
// refused as well, because nothing typed should be a control.
bool acceptable_character(const std::string& bytes) {
  const auto lead = static_cast<unsigned char>(bytes[0]);
  const auto second = static_cast<unsigned char>(bytes[1]);
  switch (lead) {
    case 0xC2:
    case 0xE0:
      return second >= 0xA0;
    case 0xED:
      return second <= 0x9F;
    case 0xF0:
      return second >= 0x90;
    case 0xF4:
      return second <= 0x8F;
    default:
      return true;
  }
}

}  // namespace

EditResult LineEditor::feed(char c) {
  const auto byte = static_cast<unsigned char>(c);
  switch (state_) {
    case State::escape:
      if (c == '[' || c == 'O') {
        state_ = c == '[' ? State::csi : State::ss3;
        pending_.clear();
        return EditResult::none;
      }
      // A lone Escape or Alt+key: drop the escape, keep the key.
      state_ = State::text;
      break;
    case State::csi:
      if (byte >= 0x40 && byte <= 0x7E) {
        state_ = State::text;
        return on_csi_final(c);
      }
      // Parameter bytes, capped so that a pasted "ESC [" cannot swallow the
      // rest of the line.
      if (byte < 0x20 || byte > 0x3F || pending_.size() >= kMaxParameterBytes) {
        state_ = State::text;
        return EditResult::none;
      }
      pending_ += c;
      return EditResult::none;
    case State::ss3:
      // ESC O C and ESC [ C are the same arrow in different keypad modes.
      state_ = State::text;
      return on_csi_final(c);
    case State::utf8:
      if (is_continuation(byte)) {
        pending_ += c;
        if (pending_.size() < utf8_length_) {
          return EditResult::none;
        }
        state_ = State::text;
        return acceptable_character(pending_) ? insert(pending_) : EditResult::none;
      }
      // A character cut short: drop it and read this byte afresh.
      state_ = State::text;
      break;
    case State::text:
      break;
  }
  if (byte == 0x1B) {
    state_ = State::escape;
    return EditResult::none;
  }
  if (byte < 0x20 || byte == 0x7F) {
    return on_control(byte);
  }
  if (byte < 0x80) {
    return insert(std::string(1, c));
  }
  utf8_length_ = sequence_length(byte);
  if (utf8_length_ == 0) {
    return EditResult::none;
  }
  pending_.assign(1, c);
  state_ = State::utf8;
  return EditResult::none;
}

EditResult LineEditor::on_control(unsigned char byte) {
  const std::size_t old_cursor = cursor_;
  switch (byte) {
    case '\r':
    case '\n':
      return EditResult::submit;
    case 0x03:  // Ctrl-C
      return EditResult::interrupt;
    case 0x04:  // Ctrl-D
      if (text_.empty()) {
        return EditResult::quit;
      }
      return erase(cursor_, next_boundary(cursor_));
    case 0x7F:  // Backspace on most terminals
    case 0x08:  // Ctrl-H, Backspace on some
      return erase(previous_boundary(cursor_), cursor_);
    case 0x15:  // Ctrl-U
      return erase(0, text_.size());
    case 0x17: {  // Ctrl-W: the spaces before the cursor, then the word before them
      std::size_t from = cursor_;
      while (from > 0 && text_[from - 1] == ' ') {
        --from;
      }
      while (from > 0 && text_[from - 1] != ' ') {
        --from;
      }
      return erase(from, cursor_);
    }
    case 0x0B:  // Ctrl-K
      return erase(cursor_, text_.size());
    case 0x01:  // Ctrl-A
      cursor_ = 0;
      break;
    case 0x05:  // Ctrl-E
      cursor_ = text_.size();
      break;
    case 0x02:  // Ctrl-B
      cursor_ = previous_boundary(cursor_);
      break;
    case 0x06:  // Ctrl-F
      cursor_ = next_boundary(cursor_);
      break;
    default:
      return EditResult::none;
  }
  return cursor_ == old_cursor ? EditResult::none : EditResult::changed;
}

EditResult LineEditor::on_csi_final(char final) {
  // Parameters name the key for "~" sequences (ESC [ 3 ~ is Delete) and carry
  // modifiers otherwise (ESC [ 1 ; 5 C is Ctrl-Right, treated as Right).
  const std::string parameters = std::exchange(pending_, {});
  const std::size_t old_cursor = cursor_;
  switch (final) {
    case 'C':
      cursor_ = next_boundary(cursor_);
      break;
    case 'D':
      cursor_ = previous_boundary(cursor_);
      break;
    case 'H':
      cursor_ = 0;
      break;
    case 'F':
      cursor_ = text_.size();
      break;
    case '~':
      if (parameters == "3") {
        return erase(cursor_, next_boundary(cursor_));
      }
      if (parameters == "1" || parameters == "7") {
        cursor_ = 0;
      } else if (parameters == "4" || parameters == "8") {
        cursor_ = text_.size();
      }
      break;
    default:
      return EditResult::none;
  }
  return cursor_ == old_cursor ? EditResult::none : EditResult::changed;
}

EditResult LineEditor::insert(const std::string& character) {
  text_.insert(cursor_, character);
  cursor_ += character.size();
  return EditResult::changed;
}

EditResult LineEditor::erase(std::size_t from, std::size_t to) {
  if (from >= to) {
    return EditResult::none;
  }
  text_.erase(from, to - from);
  cursor_ = from;
  return EditResult::changed;
}

std::size_t LineEditor::previous_boundary(std::size_t at) const {
  while (at > 0) {
    --at;
    if (!is_continuation(static_cast<unsigned char>(text_[at]))) {
      break;
    }
  }
  return at;
}

std::size_t LineEditor::next_boundary(std::size_t at) const {
  if (at < text_.size()) {
    ++at;
  }
  while (at < text_.size() && is_continuation(static_cast<unsigned char>(text_[at]))) {
    ++at;
  }
  return at;
}

std::string LineEditor::take_line() {
  cursor_ = 0;
  return std::exchange(text_, {});
}

}  // namespace relay::cli::ui
