#include "relay/service/shared_connections.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstring>

#include <fmt/format.h>

#include "common/descriptors.hpp"

namespace relay::service {
namespace {

bool same_address(const sockaddr_storage& a, socklen_t a_length, const sockaddr_storage& b,
                  socklen_t b_length) {
  return a_length == b_length && std::memcmp(&a, &b, a_length) == 0;
}

void set_cork(int fd, int on) { setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on); }

// gRPC writes an IPv6 peer's brackets percent-encoded ("ipv6:%5B::1%5D:5000").
std::string without_percent_brackets(std::string peer) {
  for (const auto& [encoded, plain] : {std::pair{"%5B", "["}, std::pair{"%5D", "]"}}) {
    for (auto at = peer.find(encoded); at != std::string::npos; at = peer.find(encoded, at)) {
      peer.replace(at, 3, plain);
    }
  }
  return peer;
}

}  // namespace

std::string grpc_peer_string(const sockaddr_storage& address) {
  const auto text = common::ip_and_port(address);
  if (!text) {
    return "";
  }
  if (address.ss_family == AF_INET) {
    return fmt::format("ipv4:{}:{}", text->ip, text->port);
  }
  // gRPC names a peer mapped from IPv4 by its IPv4 address.
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
  if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
    char v4[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], v4, sizeof v4);
    return fmt::format("ipv4:{}:{}", v4, text->port);
  }
  return fmt::format("ipv6:[{}]:{}", text->ip, text->port);
}

bool TcpConnection::hold() {
  // Only the first of nested holds corks the socket; the others count on it.
  if (holders_.fetch_add(1, std::memory_order_acq_rel) > 0) {
    return true;
  }
  if (cork()) {
    return true;
  }
  holders_.fetch_sub(1, std::memory_order_acq_rel);
  return false;
}

bool TcpConnection::cork() {
  if (fd_.load(std::memory_order_acquire) < 0 && !registry_.find_socket(*this)) {
    return false;
  }
  const int fd = fd_.load(std::memory_order_acquire);
  sockaddr_storage now{};
  socklen_t length = sizeof now;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&now), &length) != 0 ||
      !same_address(now, length, address_, address_length_)) {
    return false;
  }
  set_cork(fd, 1);
  return true;
}

void TcpConnection::release() {
  if (holders_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    set_cork(fd_.load(std::memory_order_acquire), 0);
  }
}

void TcpConnection::adopt(int fd, const sockaddr_storage& address, socklen_t length) {
  address_ = address;
  address_length_ = length;
  fd_.store(fd, std::memory_order_release);
}

std::shared_ptr<TcpConnection> SharedConnections::attach(const std::string& peer) {
  std::lock_guard lock(mutex_);
  auto& connection = entries_[peer];
  if (!connection) {
    connection = std::make_shared<TcpConnection>(peer, *this);
  }
  connection->streams_.fetch_add(1, std::memory_order_relaxed);
  return connection;
}

void SharedConnections::detach(const std::string& peer) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(peer);
  if (it != entries_.end() && it->second->streams_.fetch_sub(1, std::memory_order_relaxed) == 1) {
    entries_.erase(it);
  }
}

std::size_t SharedConnections::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

bool SharedConnections::find_socket(TcpConnection& connection) {
  const std::string wanted = without_percent_brackets(connection.peer());
  if (!wanted.starts_with("ipv4:") && !wanted.starts_with("ipv6:")) {
    return false;
  }
  // A read of 10,000 descriptors takes about 10 ms: a fan-out that finds one
  // going on writes without a hold rather than wait for it.
  std::unique_lock lock(sockets_mutex_, std::try_to_lock);
  if (!lock) {
    return false;
  }
  // Another thread may have found it meanwhile; adopting twice could rewrite
  // the address under a hold.
  if (connection.fd_.load(std::memory_order_acquire) >= 0) {
    return true;
  }
  auto found = sockets_.find(wanted);
  const auto now = std::chrono::steady_clock::now();
  if (found == sockets_.end() && (!last_read_ || now - *last_read_ >= read_interval_)) {
    last_read_ = now;
    read_sockets_locked();
    found = sockets_.find(wanted);
  }
  if (found == sockets_.end()) {
    return false;
  }
  connection.adopt(found->second.fd, found->second.address, found->second.length);
  return true;
}

void SharedConnections::read_sockets_locked() {
  sockets_.clear();
  common::for_each_descriptor([this](int fd) {
    Socket socket{.fd = fd};
    socket.length = sizeof socket.address;
    if (getpeername(socket.fd, reinterpret_cast<sockaddr*>(&socket.address), &socket.length) == 0) {
      if (std::string name = grpc_peer_string(socket.address); !name.empty()) {
        sockets_.insert_or_assign(std::move(name), socket);
      }
    }
    return true;
  });
}

}  // namespace relay::service
