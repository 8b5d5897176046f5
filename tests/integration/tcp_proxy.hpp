#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace relay::testing {

// A TCP proxy on 127.0.0.1 under the test's control: it forwards every
// connection to a target port and can cut all of them at once, as a flaky
// network would, mid-stream.
class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  // Closes every open connection, both ways; new ones are accepted again.
  void cut_all();
  int connections_accepted() const { return accepted_.load(); }

 private:
  void accept_loop();
  void pump(int client, int server);

  const int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::vector<int> open_;  // sockets of live connections; guarded by mutex_
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace relay::testing
