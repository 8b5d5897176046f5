#include "common/anonymous_exposure.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace relay::common {

bool is_loopback_address(std::string_view host_and_port) {
  const auto colon = host_and_port.rfind(':');
  std::string host(host_and_port.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") {
    return true;
  }
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

std::optional<std::string> anonymous_exposure(const RelayConfig& config) {
  if (!config.auth_key.empty() || config.allow_anonymous ||
      is_loopback_address(config.listen_address)) {
    return std::nullopt;
  }
  return "refusing to listen on " + config.listen_address +
         " without tokens: anyone who reaches it could speak as anyone. Give --auth-key FILE "
         "to check callers' tokens, listen on loopback (127.0.0.1:PORT), or give "
         "--allow-anonymous if every client that can reach this address is trusted";
}

}  // namespace relay::common
