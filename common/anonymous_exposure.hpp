#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/config.hpp"

namespace relay::common {

// Whether HOST:PORT is reached from this machine only: 127.0.0.0/8, ::1
// (also as ::ffff:127.x.x.x) or localhost. A host name other than localhost
// may resolve anywhere, so it is not.
bool is_loopback_address(std::string_view host_and_port);

// Why the relay must not start: it would take anyone who reaches it from
// another machine at their word for who they are (no auth_key, a listen
// address beyond loopback, and no allow_anonymous). Nothing when it may.
std::optional<std::string> anonymous_exposure(const RelayConfig& config);

}  // namespace relay::common
