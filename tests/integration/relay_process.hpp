#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace relay::testing {

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
  pid_t pid() const { return pid_; }

  void signal(int signal_number) const;
  // The exit code once the process ends within `timeout`; nullopt if it did
  // not (it is still running then) or was killed by a signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // What the relay logged so far.
  std::string log() const;

 private:
  std::filesystem::path directory_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_ = false;
};

}  // namespace relay::testing
