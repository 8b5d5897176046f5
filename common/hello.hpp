#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace relay::common {

// The limits a relay announces in its hello (common::kHelloKey).
struct HelloLimits {
  std::optional<double> max_body_bytes;
  std::optional<double> publish_rate;
  std::optional<double> publish_burst;
};

// The hello's value: the version, then each limit as name=value, separated
// by spaces: "v1 max-body-bytes=65536 publish-rate=500 publish-burst=1000".
// One entry, not one per limit: gRPC keeps a copy of every entry for the
// life of the call, about 120 bytes each on every idle stream
// (bench/PROFILE.md, fifteenth session).
std::string format_hello(std::size_t max_body_bytes, double publish_rate,
                         std::size_t publish_burst);

// The limits a hello names. One it does not name, or names with something
// other than a number, is left unset: the client then keeps its default.
HelloLimits parse_hello(std::string_view value);

}  // namespace relay::common
