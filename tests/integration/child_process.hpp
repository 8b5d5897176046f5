#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace relay::testing {

// Polls `condition` every few milliseconds until it holds (true) or
// `timeout` has passed (false).
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// The words of a command line a document shows, split at blanks: its
// examples quote nothing that a test runs word by word.
std::vector<std::string> command_words(const std::string& line);

// A program run by a test: its stdin is `input` (then closed), its stdout and
// stderr go to files the test reads. The destructor kills it by PID if it is
// still running.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> args, const std::string& input);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signal_number) const;
  // The exit code if it ends within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string out() const;
  std::string err() const;
  // Waits until stdout holds `text`; false at the deadline.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) const;

 private:
  std::filesystem::path directory_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

}  // namespace relay::testing
