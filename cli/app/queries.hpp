#pragma once

#include <string>
#include <vector>

#include "cli/app/options.hpp"
#include "cli/app/relay_calls.hpp"
#include "cli/app/stop_signal.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli::app {

// The unary queries, shared by the subcommands and the interactive /rooms,
// /who and /history.
grpc::Status fetch_rooms(RelayCalls& calls, v1::ListRoomsResponse& response);
// The last `count` messages of a room.
grpc::Status fetch_last_messages(RelayCalls& calls, const std::string& room, int count,
                                 v1::HistoryResponse& response);
grpc::Status fetch_members(RelayCalls& calls, const std::string& room, v1::WhoResponse& response);

// Lines for people, sanitized for a terminal.
std::vector<std::string> room_lines(const v1::ListRoomsResponse& response);
std::vector<std::string> member_lines(const v1::WhoResponse& response);

// The one-shot subcommands. Each prints its result on stdout (lines, or JSON
// lines with --json) and returns the exit code: 0, or 1 with the reason on
// stderr; a stop signal ends them at once (the caller reports it).
int list_rooms(const GlobalOptions& global, StopSignal& signals);
int show_history(const GlobalOptions& global, const std::string& room, int count,
                 StopSignal& signals);
int show_members(const GlobalOptions& global, const std::string& room, StopSignal& signals);
// Publishes every stdin line to `room` in one PublishBatch call and prints
// the summary; exit 1 when any line was rejected or the relay stopped
// answering (a batch that flows may take longer than --timeout).
int send_lines(const GlobalOptions& global, const std::string& room, StopSignal& signals);

}  // namespace relay::cli::app
