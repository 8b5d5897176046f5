#pragma once

#include <string>
#include <vector>

#include "cli/app/options.hpp"
#include "cli/app/stop_signal.hpp"

namespace relay::cli::app {

// Interactive chat in a terminal: the room is joined at once; returns the
// exit code once the user quits.
int run_interactive(const GlobalOptions& global, const std::string& room, StopSignal& signals);

// Scriptable chat: every stdin line is published to `room`, every delivered
// message printed as one line (or JSON); at end of input, waits until every
// line is acknowledged (up to --timeout). Exit 0, or 1 with the reason.
int run_plain(const GlobalOptions& global, const std::string& room, StopSignal& signals);

// Tails rooms (Follow), reconnecting and resuming, until SIGINT or SIGTERM;
// with `presence`, who joins and leaves them too.
int run_follow(const GlobalOptions& global, const std::vector<std::string>& rooms, bool presence,
               StopSignal& signals);

}  // namespace relay::cli::app
