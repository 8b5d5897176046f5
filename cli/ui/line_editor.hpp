#pragma once

#include <cstddef>
#include <string>

namespace relay::cli::ui {

// What a key did to the line being typed.
enum class EditResult {
  none,       // nothing visible changed (a partial key sequence, an unknown key)
  changed,    // the text or the cursor moved: redraw the input line
  submit,     // Enter: take_line() holds the line
  quit,       // Ctrl-D on an empty line, as /quit
  interrupt,  // Ctrl-C: quit at once
};

// The line the user is typing, edited one byte of keyboard input at a time.
// Keys arrive split across reads (an arrow is three bytes, a character up to
// four), so the editor keeps the partial sequence between calls. The text is
// always whole, valid UTF-8 without control characters: bytes that do not
// form a character are dropped.
//
// Keys: printable characters insert; Backspace (DEL or Ctrl-H) deletes back;
// Delete and Ctrl-D delete forward; Ctrl-U clears the line; Ctrl-W deletes
// the word before the cursor; Ctrl-K deletes to the end; Left/Right, Ctrl-B/
// Ctrl-F move; Home/End, Ctrl-A/Ctrl-E jump; Enter submits; Ctrl-D on an
// empty line quits, and Ctrl-C interrupts.
class LineEditor {
 public:
  EditResult feed(char byte);

  // The submitted line; the editor starts empty again.
  std::string take_line();

  const std::string& text() const { return text_; }
  // A byte offset into text(), always at the start of a character.
  std::size_t cursor() const { return cursor_; }

 private:
  enum class State { text, escape, csi, ss3, utf8 };

  EditResult on_control(unsigned char byte);
  EditResult on_csi_final(char final);
  EditResult insert(const std::string& character);
  EditResult erase(std::size_t from, std::size_t to);
  std::size_t previous_boundary(std::size_t at) const;
  std::size_t next_boundary(std::size_t at) const;

  std::string text_;
  std::size_t cursor_ = 0;
  State state_ = State::text;
  std::string pending_;  // the bytes of an unfinished escape sequence or character
  std::size_t utf8_length_ = 0;
};

}  // namespace relay::cli::ui
