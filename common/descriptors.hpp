#pragma once

#include <sys/socket.h>

#include <functional>
#include <optional>
#include <string>

namespace relay::common {

// Calls `visit` with each descriptor the process has open (from
// /proc/self/fd), until it returns false. Libraries that own sockets (gRPC,
// libnats) do not say which descriptor is which: the caller tells them apart
// by their addresses. A descriptor may be closed, or its number reused, by
// the time `visit` looks at it.
void for_each_descriptor(const std::function<bool(int fd)>& visit);

// An IP socket address as text: the IP as inet_ntop writes it (an IPv6
// address mapped from IPv4 stays IPv6) and the port; nothing for another
// family.
struct IpAndPort {
  std::string ip;
  int port = 0;
};
std::optional<IpAndPort> ip_and_port(const sockaddr_storage& address);

}  // namespace relay::common
