#include <doctest/doctest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "relay/service/shared_connections.hpp"

using relay::service::grpc_peer_string;
using relay::service::SharedConnections;

namespace {

// A connected pair of loopback TCP sockets, as the relay holds one: the
// server end is what a connection is held on.
struct LoopbackPair {
  LoopbackPair() {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(listener, 1) == 0);
    socklen_t length = sizeof address;
    REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    client = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    server = accept(listener, nullptr, nullptr);
    REQUIRE(server >= 0);
    close(listener);
    sockaddr_storage client_end{};
    length = sizeof client_end;
    REQUIRE(getsockname(client, reinterpret_cast<sockaddr*>(&client_end), &length) == 0);
    peer = grpc_peer_string(client_end);
  }
  ~LoopbackPair() {
    close(client);
    close(server);
  }
  bool server_corked() const {
    int on = 0;
    socklen_t length = sizeof on;
    REQUIRE(getsockopt(server, IPPROTO_TCP, TCP_CORK, &on, &length) == 0);
    return on != 0;
  }
  int client = -1;
  int server = -1;
  std::string peer;  // as gRPC names the server end's peer
};

}  // namespace

TEST_CASE("grpc_peer_string writes addresses as gRPC's peer strings do") {
  sockaddr_storage storage{};
  auto& v4 = reinterpret_cast<sockaddr_in&>(storage);
  v4.sin_family = AF_INET;
  v4.sin_port = htons(5000);
  v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(grpc_peer_string(storage) == "ipv4:127.0.0.1:5000");

  storage = {};
  auto& v6 = reinterpret_cast<sockaddr_in6&>(storage);
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(5001);
  v6.sin6_addr = in6addr_loopback;
  CHECK(grpc_peer_string(storage) == "ipv6:[::1]:5001");
  v6.sin6_addr.s6_addr[10] = 0xff;  // ::ffff:127.0.0.1, IPv4 mapped into IPv6
  v6.sin6_addr.s6_addr[11] = 0xff;
  v6.sin6_addr.s6_addr[12] = 127;
  v6.sin6_addr.s6_addr[15] = 1;
  v6.sin6_addr.s6_addr[14] = 0;
  CHECK(grpc_peer_string(storage) == "ipv4:127.0.0.1:5001");
}

TEST_CASE("a connection is held with TCP_CORK, its socket found at the first hold") {
  LoopbackPair pair;
  SharedConnections connections;
  const auto first = connections.attach(pair.peer);
  CHECK_FALSE(first->shared());
  const auto second = connections.attach(pair.peer);
  CHECK(second == first);
  CHECK(first->shared());
  REQUIRE(first->hold());
  CHECK(first->held());
  CHECK(pair.server_corked());
  first->release();
  CHECK_FALSE(first->held());
  CHECK_FALSE(pair.server_corked());
  connections.detach(pair.peer);
  CHECK_FALSE(first->shared());
  connections.detach(pair.peer);
  CHECK(connections.size() == 0);
}

TEST_CASE("holds nest: the socket stays corked until the last of them is released") {
  LoopbackPair pair;
  SharedConnections connections;
  const auto connection = connections.attach(pair.peer);
  REQUIRE(connection->hold());
  REQUIRE(connection->hold());
  connection->release();
  CHECK(pair.server_corked());
  CHECK(connection->held());
  connection->release();
  CHECK_FALSE(pair.server_corked());
  connections.detach(pair.peer);
}

TEST_CASE("the descriptors are read again for a new connection only once the interval has passed") {
  SharedConnections seldom(std::chrono::hours(1));
  SharedConnections always(std::chrono::seconds(0));
  LoopbackPair early;
  const auto early_seldom = seldom.attach(early.peer);
  REQUIRE(early_seldom->hold());  // the first read
  early_seldom->release();
  LoopbackPair late;
  const auto late_seldom = seldom.attach(late.peer);
  const auto late_always = always.attach(late.peer);
  CHECK_FALSE(late_seldom->hold());  // not in the read of an hour ago
  REQUIRE(late_always->hold());
  CHECK(late.server_corked());
  late_always->release();
  for (auto* connections : {&seldom, &always}) {
    connections->detach(late.peer);
  }
  seldom.detach(early.peer);
}

TEST_CASE("a connection whose socket number now belongs to another peer is not held") {
  SharedConnections connections;
  std::shared_ptr<relay::service::TcpConnection> held;
  int number = -1;
  {
    LoopbackPair pair;
    held = connections.attach(pair.peer);
    REQUIRE(held->hold());
    held->release();
    number = pair.server;
  }
  // The numbers are free again; the next pair may well reuse them.
  LoopbackPair other;
  INFO("socket number " << number << ", now " << other.server);
  CHECK_FALSE(held->hold());
  CHECK_FALSE(other.server_corked());
}

TEST_CASE("a peer that is not a TCP socket of this process is never held") {
  SharedConnections connections;
  for (const char* peer : {"unix:/tmp/relay.sock", "ipv4:127.0.0.1:1"}) {
    const auto connection = connections.attach(peer);
    CHECK_FALSE(connection->hold());
    CHECK_FALSE(connection->held());
  }
}
