#pragma once

#include <optional>

namespace relay::cli::ui {

// A terminal in raw mode: keys arrive one by one and unechoed, and Ctrl-C or
// Ctrl-Z arrive as bytes rather than signals. Output processing is left on,
// so a log line written by another thread still starts at column 0.
//
// The previous mode comes back in the destructor, at exit(), and before a
// fatal signal (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS)
// ends the process: the handler restores the mode, reinstates the handler
// that was there before and raises the signal again, so a program that
// handles SIGTERM itself still gets it. The saved mode lives in a global the
// handler can read, so only one RawMode may exist at a time.
class RawMode {
 public:
  // Throws std::system_error when `fd` is not a terminal.
  explicit RawMode(int fd);
  ~RawMode();
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;
};

// A self-pipe that wakes a poll() when another thread calls wake() and when
// the window is resized (SIGWINCH), so one thread can wait for keys, resizes
// and a stop request together. One at a time, like RawMode.
class WakePipe {
 public:
  // Throws std::system_error when the pipe cannot be made.
  WakePipe();
  ~WakePipe();
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;

  int read_fd() const { return read_fd_; }
  void wake();
  // Empties the pipe; true when the window was resized since the last call.
  bool drain();

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// The width of the terminal on `fd`, or nothing when it is not a terminal.
std::optional<int> terminal_columns(int fd);

}  // namespace relay::cli::ui
