#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "relay/hub/subscriber.hpp"

namespace relay::service {

// A TCP connection that several of the relay's streams share, held with
// TCP_CORK: while it is held, what the relay writes to the socket waits in
// the kernel, and the release sends it in as few segments as its bytes need
// (see hub::SharedConnection).
//
// gRPC does not tell a reactor which socket its call came on, only the
// peer's address: the socket is found by that address among the process's
// descriptors, once a second stream shares the connection. A descriptor can be
// closed and its number reused by the time the connection is held, so each
// hold checks that the socket still has that peer; holding a socket of
// someone else's for the length of a fan-out would only delay it by as much.
class TcpConnection final : public hub::SharedConnection {
 public:
  explicit TcpConnection(std::string peer) : peer_(std::move(peer)) {}

  bool hold() override;
  void release() override;

  // Looks for the socket; false if none has this peer (a Unix socket, or a
  // connection already closed). Called at most once.
  bool find_socket();
  const std::string& peer() const { return peer_; }

 private:
  const std::string peer_;
  // -1 until found. The address is written before the descriptor is
  // published and read only after it is seen.
  std::atomic<int> fd_{-1};
  sockaddr_storage address_{};
  socklen_t address_length_ = 0;
};

// The connections of the open Chat and Follow streams, by gRPC's peer string
// (one per TCP connection: the address and port of its client end).
class SharedConnections {
 public:
  // A stream of this peer opened: its connection, searched for its socket
  // when this is the second stream on it. Every attach is matched by one
  // detach.
  std::shared_ptr<TcpConnection> attach(const std::string& peer);
  void detach(const std::string& peer);
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<TcpConnection> connection;
    std::size_t streams = 0;
    // The socket is searched for once: a second search could rewrite the
    // address while another thread holds the connection.
    bool searched = false;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mutex_
};

// A stream's place in SharedConnections, given up when the stream's reactor
// is destroyed.
class ConnectionLease {
 public:
  ConnectionLease(SharedConnections& connections, std::string peer)
      : connections_(connections), peer_(std::move(peer)), connection_(connections.attach(peer_)) {}
  ~ConnectionLease() { connections_.detach(peer_); }
  ConnectionLease(const ConnectionLease&) = delete;
  ConnectionLease& operator=(const ConnectionLease&) = delete;

  const std::shared_ptr<TcpConnection>& connection() const { return connection_; }

 private:
  SharedConnections& connections_;
  const std::string peer_;
  const std::shared_ptr<TcpConnection> connection_;
};

// gRPC's peer string for a socket address ("ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000"; an IPv4 address mapped into IPv6 reads as IPv4, as gRPC
// writes it); empty for other families.
std::string grpc_peer_string(const sockaddr_storage& address);

}  // namespace relay::service
