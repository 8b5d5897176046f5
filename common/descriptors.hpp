#pragma once

#include <functional>

namespace relay::common {

// Calls `visit` with each descriptor the process has open (from
// /proc/self/fd), until it returns false. Libraries that own sockets (gRPC,
// libnats) do not say which descriptor is which: the caller tells them apart
// by their addresses. A descriptor may be closed, or its number reused, by
// the time `visit` looks at it.
void for_each_descriptor(const std::function<bool(int fd)>& visit);

}  // namespace relay::common
