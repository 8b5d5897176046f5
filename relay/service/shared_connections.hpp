#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "relay/hub/subscriber.hpp"

namespace relay::service {

class SharedConnections;

// A TCP connection of the relay's streams, held with TCP_CORK: while it is
// held, what the relay writes to the socket waits in the kernel, and the
// release sends it in as few segments as its bytes need (see
// hub::SharedConnection).
//
// gRPC does not tell a reactor which socket its call came on, only the
// peer's address: the socket is found by that address among the process's
// descriptors (SharedConnections::find_socket) the first time the
// connection is held. A descriptor can be closed and its number reused by
// the time the connection is held, so each hold checks that the socket still
// has that peer; holding a socket of someone else's would only delay it by
// as long as the hold.
class TcpConnection final : public hub::SharedConnection {
 public:
  // The registry must outlive every hold.
  TcpConnection(std::string peer, SharedConnections& registry)
      : peer_(std::move(peer)), registry_(registry) {}

  bool hold() override;
  void release() override;
  bool held() const override { return holders_.load(std::memory_order_relaxed) > 0; }
  bool shared() const override { return streams_.load(std::memory_order_relaxed) > 1; }
  const std::string& peer() const { return peer_; }

 private:
  friend class SharedConnections;
  // The socket found for the peer; once only, before fd_ is seen.
  void adopt(int fd, const sockaddr_storage& address, socklen_t length);
  bool cork();

  const std::string peer_;
  SharedConnections& registry_;
  // -1 until found. The address is written before the descriptor is
  // published and read only after it is seen.
  std::atomic<int> fd_{-1};
  sockaddr_storage address_{};
  socklen_t address_length_ = 0;
  std::atomic<int> holders_{0};
  // Streams attached; changed only by the registry, under its lock.
  std::atomic<int> streams_{0};
};

// The connections of the open Chat and Follow streams, by gRPC's peer string
// (one per TCP connection: the address and port of its client end), and the
// sockets of the process by the same name.
class SharedConnections {
 public:
  // How often at most every descriptor of the process is read to find the
  // sockets of connections held for the first time: a relay with 10,000
  // connections spends about 10 ms on a read.
  explicit SharedConnections(
      std::chrono::steady_clock::duration read_interval = std::chrono::seconds(1))
      : read_interval_(read_interval) {}

  // A stream of this peer opened: its connection. Every attach is matched by
  // one detach.
  std::shared_ptr<TcpConnection> attach(const std::string& peer);
  void detach(const std::string& peer);
  std::size_t size() const;

  // Finds the connection's socket among those the last read of the
  // process's descriptors saw, reading them again if that read is older
  // than the interval. False if none has its peer (a Unix socket, a
  // connection closed, or one opened since a read too recent to repeat), or
  // if another thread is reading them.
  bool find_socket(TcpConnection& connection);

 private:
  struct Socket {
    int fd = -1;
    sockaddr_storage address{};
    socklen_t length = 0;
  };
  void read_sockets_locked();

  const std::chrono::steady_clock::duration read_interval_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<TcpConnection>> entries_;  // guarded by mutex_
  std::mutex sockets_mutex_;
  // By the peer's name as grpc_peer_string writes it; guarded by sockets_mutex_.
  std::unordered_map<std::string, Socket> sockets_;
  std::optional<std::chrono::steady_clock::time_point> last_read_;  // guarded by sockets_mutex_
};

// A stream's place in SharedConnections, given up when the stream's reactor
// is destroyed.
class ConnectionLease {
 public:
  ConnectionLease(SharedConnections& connections, const std::string& peer)
      : connections_(connections), connection_(connections.attach(peer)) {}
  ~ConnectionLease() { connections_.detach(connection_->peer()); }
  ConnectionLease(const ConnectionLease&) = delete;
  ConnectionLease& operator=(const ConnectionLease&) = delete;

  const std::shared_ptr<TcpConnection>& connection() const { return connection_; }
  // gRPC's peer string of the stream (the connection's, held once for all its streams).
  const std::string& peer() const { return connection_->peer(); }

 private:
  SharedConnections& connections_;
  const std::shared_ptr<TcpConnection> connection_;  // never null
};

// gRPC's peer string for a socket address ("ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000"; an IPv4 address mapped into IPv6 reads as IPv4, as gRPC
// writes it); empty for other families.
std::string grpc_peer_string(const sockaddr_storage& address);

}  // namespace relay::service
