#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cli/session/chat_session.hpp"
#include "cli/session/follower.hpp"

namespace relay::cli::app {

// What the command line asked for, shared by every subcommand.
struct GlobalOptions {
  std::string target = "127.0.0.1:50051";
  std::string user;
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds backoff_max{30000};
  bool json = false;
  common::ClientTls tls;
  TokenSource token;
};

// How long a chat mode stopped by a signal waits for the relay to take the end
// of its stream: whoever pressed Ctrl-C wants the prompt back at once.
inline constexpr std::chrono::milliseconds kStopOnSignalTimeout{500};

ChannelOptions channel_options(const GlobalOptions& global);
SessionOptions session_options(const GlobalOptions& global);
FollowOptions follow_options(const GlobalOptions& global, std::vector<std::string> rooms,
                             bool presence);

}  // namespace relay::cli::app
