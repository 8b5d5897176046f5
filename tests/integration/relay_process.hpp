#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/child_process.hpp"

namespace relay::testing {

// The relay-server binary the tests run: the one built with them, or the one
// RELAY_SERVER_UNDER_TEST names, such as one built before a fix, to see a new
// test fail there.
std::string relay_server_path();
// The same for relay-chat, with RELAY_CHAT_UNDER_TEST.
std::string relay_chat_path();

// A real relay-server child process on 127.0.0.1, port 0. The constructor
// returns once the relay listens (it writes its port file after binding);
// the destructor kills it by PID if it is still running.
class RelayProcess {
 public:
  explicit RelayProcess(std::vector<std::string> extra_args = {});
  ~RelayProcess();
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return process_->pid(); }

  void signal(int signal_number) const { process_->signal(signal_number); }
  // The exit code once the process ends within `timeout`; nullopt if it did
  // not (it is still running then) or was killed by a signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    return process_->wait_exit(timeout);
  }
  // What the relay logged so far.
  std::string log() const { return process_->err(); }

 private:
  std::filesystem::path port_file_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

}  // namespace relay::testing
