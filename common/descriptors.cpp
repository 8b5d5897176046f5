#include "common/descriptors.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>

#include <cstdlib>

namespace relay::common {

void for_each_descriptor(const std::function<bool(int fd)>& visit) {
  DIR* descriptors = opendir("/proc/self/fd");
  if (descriptors == nullptr) {
    return;
  }
  while (const dirent* entry = readdir(descriptors)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(descriptors)) {
      continue;
    }
    if (!visit(static_cast<int>(fd))) {
      break;
    }
  }
  closedir(descriptors);
}

std::optional<IpAndPort> ip_and_port(const sockaddr_storage& address) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, ip, sizeof ip);
    return IpAndPort{ip, ntohs(v4.sin_port)};
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, ip, sizeof ip);
    return IpAndPort{ip, ntohs(v6.sin6_port)};
  }
  return std::nullopt;
}

}  // namespace relay::common
