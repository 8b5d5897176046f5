#pragma once

#include <optional>
#include <string>

namespace relay::cli::app {

// Lines from standard input that another thread can stop waiting for:
// reading polls stdin together with a pipe that interrupt() writes to, so a
// SIGINT ends a blocked read cleanly instead of killing the process.
class StdinLines {
 public:
  StdinLines();
  ~StdinLines();
  StdinLines(const StdinLines&) = delete;
  StdinLines& operator=(const StdinLines&) = delete;

  // The next line without its newline; nothing at end of input or after
  // interrupt(). A last line without a newline still counts.
  std::optional<std::string> next();
  void interrupt();

 private:
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace relay::cli::app
