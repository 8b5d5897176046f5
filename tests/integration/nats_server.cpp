#include "tests/integration/nats_server.hpp"

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

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

void NatsServer::signal(int signal_number) const { process_->signal(signal_number); }

bool delete_nats_stream(const std::string& url, const std::string& stream) {
  natsConnection* connection = nullptr;
  if (natsConnection_ConnectTo(&connection, url.c_str()) != NATS_OK) {
    return false;
  }
  jsCtx* jetstream = nullptr;
  bool deleted = false;
  if (natsConnection_JetStream(&jetstream, connection, nullptr) == NATS_OK) {
    deleted = js_DeleteStream(jetstream, stream.c_str(), nullptr, nullptr) == NATS_OK;
    jsCtx_Destroy(jetstream);
  }
  natsConnection_Destroy(connection);
  return deleted;
}

}  // namespace relay::testing

namespace relay::testing {

MuteNatsServer::MuteNatsServer() {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listener_);
    throw std::runtime_error("the mute NATS server cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

MuteNatsServer::~MuteNatsServer() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

void MuteNatsServer::serve() {
  const std::string info =
      R"(INFO {"server_id":"MUTE","server_name":"mute","version":"2.9.11","proto":1,)"
      R"("host":"127.0.0.1","port":)" +
      std::to_string(port_) + R"(,"headers":true,"max_payload":1048576,"jetstream":true})" + "\r\n";
  std::vector<pollfd> fds{{.fd = listener_, .events = POLLIN, .revents = 0}};
  std::vector<std::string> pending(1);  // what each client sent, not yet a whole line
  while (!stop_) {
    if (::poll(fds.data(), fds.size(), 100) <= 0) {
      continue;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client >= 0) {
        ++connections_;
        (void)::send(client, info.data(), info.size(), MSG_NOSIGNAL);
        fds.push_back({.fd = client, .events = POLLIN, .revents = 0});
        pending.emplace_back();
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      char buffer[4096];
      const ssize_t got = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;  // poll skips it
        continue;
      }
      // Only whole "PING" lines get an answer; payloads of PUBs are lines
      // too, and none of the relay's is exactly that.
      pending[i].append(buffer, static_cast<std::size_t>(got));
      for (auto end = pending[i].find("\r\n"); end != std::string::npos;
           end = pending[i].find("\r\n")) {
        if (pending[i].compare(0, end, "PING") == 0) {
          (void)::send(fds[i].fd, "PONG\r\n", 6, MSG_NOSIGNAL);
        }
        pending[i].erase(0, end + 2);
      }
    }
  }
  for (std::size_t i = 1; i < fds.size(); ++i) {
    if (fds[i].fd >= 0) {
      ::close(fds[i].fd);
    }
  }
}

}  // namespace relay::testing
