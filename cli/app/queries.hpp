#pragma once

#include <string>
#include <vector>

#include "cli/app/options.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli::app {

// The unary queries, shared by the subcommands and the interactive /rooms,
// /who and /history. Each waits for a starting relay up to --timeout.
grpc::Status fetch_rooms(v1::Relay::Stub& stub, const GlobalOptions& global,
                         v1::ListRoomsResponse& response);
// The last `count` messages of a room.
grpc::Status fetch_last_messages(v1::Relay::Stub& stub, const GlobalOptions& global,
                                 const std::string& room, int count, v1::HistoryResponse& response);
grpc::Status fetch_members(v1::Relay::Stub& stub, const GlobalOptions& global,
                           const std::string& room, v1::WhoResponse& response);

// Lines for people, sanitized for a terminal.
std::vector<std::string> room_lines(const v1::ListRoomsResponse& response);
std::vector<std::string> member_lines(const v1::WhoResponse& response);
std::string describe_failure(const grpc::Status& status);

// The one-shot subcommands. Each prints its result on stdout (lines, or JSON
// lines with --json) and returns the exit code: 0, or 1 with the relay's
// reason on stderr.
int list_rooms(const GlobalOptions& global);
int show_history(const GlobalOptions& global, const std::string& room, int count);
int show_members(const GlobalOptions& global, const std::string& room);
// Publishes every stdin line to `room` in one PublishBatch call and prints
// the summary; exit 1 when any line was rejected.
int send_lines(const GlobalOptions& global, const std::string& room);

}  // namespace relay::cli::app
