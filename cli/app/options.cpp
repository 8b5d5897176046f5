#include "cli/app/options.hpp"

namespace relay::cli::app {

SessionOptions session_options(const GlobalOptions& global) {
  SessionOptions options;
  options.target = global.target;
  options.user = global.user;
  options.backoff.max = global.backoff_max;
  options.connect_timeout = global.timeout;
  return options;
}

FollowOptions follow_options(const GlobalOptions& global, std::vector<std::string> rooms,
                             bool presence) {
  FollowOptions options;
  options.presence = presence;
  options.target = global.target;
  options.user = global.user;
  options.rooms = std::move(rooms);
  options.backoff.max = global.backoff_max;
  options.connect_timeout = global.timeout;
  return options;
}

}  // namespace relay::cli::app
