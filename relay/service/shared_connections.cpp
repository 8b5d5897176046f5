#include "relay/service/shared_connections.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

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
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return fmt::format("ipv4:{}:{}", text, ntohs(v4.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
      inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof text);
      return fmt::format("ipv4:{}:{}", text, ntohs(v6.sin6_port));
    }
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    return fmt::format("ipv6:[{}]:{}", text, ntohs(v6.sin6_port));
  }
  return "";
}

bool TcpConnection::hold() {
  const int fd = fd_.load(std::memory_order_acquire);
  if (fd < 0) {
    return false;
  }
  sockaddr_storage now{};
  socklen_t length = sizeof now;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&now), &length) != 0 ||
      !same_address(now, length, address_, address_length_)) {
    return false;
  }
  set_cork(fd, 1);
  return true;
}

void TcpConnection::release() { set_cork(fd_.load(std::memory_order_relaxed), 0); }

bool TcpConnection::find_socket() {
  const std::string wanted = without_percent_brackets(peer_);
  if (!wanted.starts_with("ipv4:") && !wanted.starts_with("ipv6:")) {
    return false;
  }
  DIR* descriptors = opendir("/proc/self/fd");
  if (descriptors == nullptr) {
    return false;
  }
  int found = -1;
  while (const dirent* entry = readdir(descriptors)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(descriptors)) {
      continue;
    }
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
        grpc_peer_string(address) == wanted) {
      address_ = address;
      address_length_ = length;
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(descriptors);
  if (found >= 0) {
    fd_.store(found, std::memory_order_release);
  }
  return found >= 0;
}

std::shared_ptr<TcpConnection> SharedConnections::attach(const std::string& peer) {
  std::lock_guard lock(mutex_);
  Entry& entry = entries_[peer];
  if (!entry.connection) {
    entry.connection = std::make_shared<TcpConnection>(peer);
  }
  // A lone stream has nothing to share its connection's writes with, and
  // most connections carry one stream (a person's client): only a second
  // stream is worth reading every descriptor for.
  if (++entry.streams >= 2 && !entry.searched) {
    entry.searched = true;
    entry.connection->find_socket();
  }
  return entry.connection;
}

void SharedConnections::detach(const std::string& peer) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(peer);
  if (it != entries_.end() && --it->second.streams == 0) {
    entries_.erase(it);
  }
}

std::size_t SharedConnections::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace relay::service
