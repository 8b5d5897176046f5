#pragma once

#include <optional>
#include <string_view>

namespace relay::common {

// gRPC's name of a status code ("UNAVAILABLE"), or none for a number that
// is no code: the relay's metrics and relay-chat's messages word it alike.
std::optional<std::string_view> status_code_name(int code);

}  // namespace relay::common
