#include "tests/integration/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace relay::testing {
namespace {

constexpr int kPollTimeoutMs = 50;

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(0);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 64) != 0) {
    throw std::runtime_error("proxy cannot listen");
  }
  socklen_t length = sizeof address;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  acceptor_.join();
  cut_all();
  for (auto& pump : pumps_) {
    pump.join();
  }
  ::close(listener_);
}

void TcpProxy::cut_all() {
  std::lock_guard lock(mutex_);
  for (int fd : open_) {
    ::shutdown(fd, SHUT_RDWR);
  }
}

void TcpProxy::accept_loop() {
  // Polls so that the destructor can stop it without closing the listener
  // under its feet.
  while (!stopping_) {
    pollfd ready{listener_, POLLIN, 0};
    if (::poll(&ready, 1, kPollTimeoutMs) <= 0) {
      continue;
    }
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) {
      continue;
    }
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = loopback(target_port_);
    if (::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(client);
      ::close(server);
      continue;
    }
    ++accepted_;
    std::lock_guard lock(mutex_);
    open_.push_back(client);
    open_.push_back(server);
    pumps_.emplace_back([this, client, server] { pump(client, server); });
  }
}

void TcpProxy::pump(int client, int server) {
  char buffer[16384];
  pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  bool open = true;
  while (open && !stopping_) {
    if (::poll(fds, 2, kPollTimeoutMs) <= 0) {
      continue;
    }
    for (int i = 0; i < 2 && open; ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        open = false;
        break;
      }
      const int to = fds[1 - i].fd;
      for (ssize_t written = 0; written < n;) {
        // MSG_NOSIGNAL: a peer cut by cut_all must not SIGPIPE the test.
        const ssize_t w =
            ::send(to, buffer + written, static_cast<std::size_t>(n - written), MSG_NOSIGNAL);
        if (w <= 0) {
          open = false;
          break;
        }
        written += w;
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    std::erase_if(open_, [&](int fd) { return fd == client || fd == server; });
  }
  ::close(client);
  ::close(server);
}

}  // namespace relay::testing
