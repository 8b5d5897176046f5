#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/child_process.hpp"

namespace relay::testing {

// A port on 127.0.0.1 that nothing listens on now, for a server that must be
// told its port before it starts (a NATS cluster's routes, a restart).
int free_loopback_port();

// Debian's nats-server with JetStream, a child process on 127.0.0.1 with its
// store in `store`. The constructor returns once it accepts clients; the
// destructor kills it by PID if it still runs.
class NatsServer {
 public:
  // `port` 0 picks a free one. `extra_args`: cluster options and the like.
  NatsServer(const std::filesystem::path& store, int port = 0,
             std::vector<std::string> extra_args = {});
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  // SIGTERM, and waits for the exit (by PID); true if it exited in time.
  bool stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGSTOP freezes it as a hung machine would: it keeps its connections and
  // answers nothing; SIGCONT thaws it.
  void signal(int signal_number) const;
  std::string log() const { return process_->err(); }

 private:
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

// Deletes a JetStream stream, as an operator resetting it would; true when
// the server says it did.
bool delete_nats_stream(const std::string& url, const std::string& stream);

// A NATS server that takes connections and answers their PINGs, and nothing
// else: a node that answers no request, as a NATS node once did for 90 s
// (docs/NOTES.md). A thread of the test serves it on 127.0.0.1.
class MuteNatsServer {
 public:
  MuteNatsServer();
  ~MuteNatsServer();
  MuteNatsServer(const MuteNatsServer&) = delete;
  MuteNatsServer& operator=(const MuteNatsServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  // Clients that have connected so far.
  int connections() const { return connections_.load(); }

 private:
  void serve();

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace relay::testing
