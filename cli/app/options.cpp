#include "cli/app/options.hpp"

namespace relay::cli::app {

ChannelOptions channel_options(const GlobalOptions& global) {
  ChannelOptions options;
  options.tls = global.tls;
  options.token = global.token;
  return options;
}

SessionOptions session_options(const GlobalOptions& global) {
  SessionOptions options;
  options.channel = channel_options(global);
  options.target = global.target;
  options.user = global.user;
  options.backoff.max = global.backoff_max;
  options.connect_timeout = global.timeout;
  return options;
}

FollowOptions follow_options(const GlobalOptions& global, std::vector<std::string> rooms,
                             bool presence) {
  FollowOptions options;
  options.channel = channel_options(global);
  options.presence = presence;
  options.target = global.target;
  options.user = global.user;
  options.rooms = std::move(rooms);
  options.backoff.max = global.backoff_max;
  options.connect_timeout = global.timeout;
  return options;
}

}  // namespace relay::cli::app
