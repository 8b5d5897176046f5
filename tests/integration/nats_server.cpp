#include "tests/integration/nats_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace relay::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

}  // namespace

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

NatsServer::NatsServer(const std::filesystem::path& store, int port,
                       std::vector<std::string> extra_args)
    : port_(port == 0 ? free_loopback_port() : port) {
  std::filesystem::create_directories(store);
  std::vector<std::string> args{"/usr/sbin/nats-server", "-js", "-a",          "127.0.0.1", "-p",
                                std::to_string(port_),   "-sd", store.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<ChildProcess>(std::move(args), "");
  if (!wait_until(
          [&] {
            return accepts_connections(port_) || process_->wait_exit(std::chrono::milliseconds(0));
          },
          kStartTimeout) ||
      !accepts_connections(port_)) {
    throw std::runtime_error("nats-server did not start on port " + std::to_string(port_) + ":\n" +
                             log());
  }
}

bool NatsServer::stop(std::chrono::milliseconds timeout) {
  process_->signal(SIGTERM);
  return process_->wait_exit(timeout).has_value();
}

}  // namespace relay::testing
