#include "cli/app/queries.hpp"

#include <iostream>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app/stdin_lines.hpp"
#include "cli/session/channel.hpp"
#include "cli/session/history_pages.hpp"
#include "cli/session/status_text.hpp"
#include "cli/ui/notices.hpp"
#include "cli/ui/renderers.hpp"
#include "cli/ui/sanitize.hpp"
#include "common/metadata.hpp"

namespace relay::cli::app {
namespace {

// The calls of one subcommand, which a stop signal cancels.
struct SubcommandCalls {
  explicit SubcommandCalls(const GlobalOptions& global, StopSignal& signals)
      : calls(make_channel(global.target, channel_options(global)), global),
        stop(signals.stop_with([this] { calls.cancel(); })) {}
  RelayCalls calls;
  StopSignal::Registration stop;
};

// The caller reports a stop signal itself.
int failed(const RelayCalls& calls, const grpc::Status& status) {
  if (!calls.cancelled()) {
    std::cerr << calls.describe_failure(status) << "\n";
  }
  return 1;
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

grpc::Status fetch_rooms(RelayCalls& calls, v1::ListRoomsResponse& response) {
  return calls.unary([&](grpc::ClientContext& context) {
    return calls.stub().ListRooms(&context, {}, &response);
  });
}

grpc::Status fetch_last_messages(RelayCalls& calls, const std::string& room, int count,
                                 v1::HistoryResponse& response) {
  const auto call = [&calls](const v1::HistoryRequest& request, v1::HistoryResponse& page) {
    return calls.unary([&](grpc::ClientContext& context) {
      return calls.stub().History(&context, request, &page);
    });
  };
  return cli::fetch_history_tail(call, room, static_cast<std::uint32_t>(count), response);
}

grpc::Status fetch_members(RelayCalls& calls, const std::string& room, v1::WhoResponse& response) {
  v1::WhoRequest request;
  request.set_room(room);
  return calls.unary(
      [&](grpc::ClientContext& context) { return calls.stub().Who(&context, request, &response); });
}

std::vector<std::string> room_lines(const v1::ListRoomsResponse& response) {
  std::vector<std::string> lines;
  for (const auto& room : response.rooms()) {
    lines.push_back(fmt::format("{:<24} {:>4} streams  #{:<8} {} in history",
                                ui::sanitize_for_terminal(room.room()), room.subscribers(),
                                room.sequence(), room.history_messages()));
  }
  if (lines.empty()) {
    lines.emplace_back("no rooms");
  }
  return lines;
}

std::vector<std::string> member_lines(const v1::WhoResponse& response) {
  std::vector<std::string> lines;
  if (response.members().empty()) {
    lines.emplace_back("no members");
  }
  for (const auto& member : response.members()) {
    lines.push_back(ui::sanitize_for_terminal(member.user()) +
                    (member.streams() > 1 ? fmt::format(" ({} streams)", member.streams()) : ""));
  }
  if (response.followers() > 0) {
    lines.push_back("and " + ui::plural(response.followers(), "follower"));
  }
  return lines;
}

int list_rooms(const GlobalOptions& global, StopSignal& signals) {
  SubcommandCalls subcommand(global, signals);
  v1::ListRoomsResponse response;
  if (auto status = fetch_rooms(subcommand.calls, response); !status.ok()) {
    return failed(subcommand.calls, status);
  }
  if (!global.json) {
    for (const auto& line : room_lines(response)) {
      std::cout << line << "\n";
    }
    return 0;
  }
  for (const auto& room : response.rooms()) {
    print_json({{"room", room.room()},
                {"epoch", room.epoch()},
                {"seq", room.sequence()},
                {"subscribers", room.subscribers()},
                {"history", room.history_messages()}});
  }
  return 0;
}

int show_history(const GlobalOptions& global, const std::string& room, int count,
                 StopSignal& signals) {
  SubcommandCalls subcommand(global, signals);
  v1::HistoryResponse response;
  if (auto status = fetch_last_messages(subcommand.calls, room, count, response); !status.ok()) {
    return failed(subcommand.calls, status);
  }
  for (const auto& message : response.messages()) {
    std::cout << (global.json ? ui::format_json_line(message) : ui::format_plain_line(message))
              << "\n";
  }
  return 0;
}

int show_members(const GlobalOptions& global, const std::string& room, StopSignal& signals) {
  SubcommandCalls subcommand(global, signals);
  v1::WhoResponse response;
  if (auto status = fetch_members(subcommand.calls, room, response); !status.ok()) {
    return failed(subcommand.calls, status);
  }
  if (!global.json) {
    for (const auto& line : member_lines(response)) {
      std::cout << line << "\n";
    }
    return 0;
  }
  for (const auto& member : response.members()) {
    print_json({{"user", member.user()}, {"streams", member.streams()}});
  }
  return 0;
}

// Ids of one `send` run: a random prefix, so that no two runs of one user
// share an id, and the line's number.
std::string batch_id_prefix() {
  std::random_device random;
  return fmt::format("send-{:08x}{:08x}-", random(), random());
}

// Writes every stdin line until the end of input, a stop signal, or a broken
// call; counts the lines written in `sent`.
void write_lines(StdinLines& lines, const std::string& room,
                 grpc::ClientWriter<v1::PublishRequest>& writer, std::uint64_t& sent) {
  const std::string id_prefix = batch_id_prefix();
  while (auto line = lines.next()) {
    if (line->empty()) {
      continue;  // as in the chat: an empty line is no message
    }
    v1::PublishRequest request;
    request.set_room(room);
    request.set_body(*line);
    request.set_client_message_id(id_prefix + std::to_string(sent + 1));
    if (!writer.Write(request)) {
      return;
    }
    ++sent;
  }
}

int send_lines(const GlobalOptions& global, const std::string& room, StopSignal& signals) {
  StdinLines lines;
  RelayCalls calls(make_channel(global.target, channel_options(global)), global);
  const auto stop = signals.stop_with([&] {
    lines.interrupt();
    calls.cancel();
  });
  v1::PublishBatchSummary summary;
  std::uint64_t sent = 0;
  std::string accepted_before_failure;
  std::string processed_before_failure;
  const auto batch = [&](grpc::ClientContext& context) {
    auto writer = calls.stub().PublishBatch(&context, &summary);
    write_lines(lines, room, *writer, sent);
    writer->WritesDone();
    auto status = writer->Finish();
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto read_trailer = [&trailers](const char* key, std::string& value) {
      if (const auto found = trailers.find(key); found != trailers.end()) {
        value.assign(found->second.data(), found->second.size());
      }
    };
    read_trailer(common::kAcceptedKey, accepted_before_failure);
    read_trailer(common::kProcessedKey, processed_before_failure);
    return status;
  };
  // The relay answers a History of one message quickly however busy the batch keeps it.
  v1::HistoryRequest head;
  head.set_room(room);
  head.set_limit(1);
  const auto probe = [&](grpc::ClientContext& context) {
    v1::HistoryResponse response;
    return calls.stub().History(&context, head, &response);
  };
  if (const auto status = calls.watched(batch, probe, [&lines] { lines.interrupt(); });
      !status.ok()) {
    if (!processed_before_failure.empty()) {
      std::cerr << fmt::format(
          "relay-chat: of the {} sent, the relay processed the first {} and accepted {} of "
          "them; it published none after those\n",
          ui::plural(sent, "line"), ui::sanitize_for_terminal(processed_before_failure),
          ui::sanitize_for_terminal(accepted_before_failure));
    }
    return failed(calls, status);
  }
  if (global.json) {
    print_json({{"sent", sent},
                {"accepted", summary.accepted()},
                {"rejected", summary.rejected()},
                {"duplicates", summary.duplicates()},
                {"first_rejection", summary.first_rejection()},
                {"first_seq", summary.first_sequence()},
                {"last_seq", summary.last_sequence()}});
  } else {
    std::cout << fmt::format("{} accepted, {} rejected", summary.accepted(), summary.rejected());
    if (summary.accepted() > 0) {
      std::cout << fmt::format(" (#{}..#{})", summary.first_sequence(), summary.last_sequence());
    }
    if (summary.duplicates() > 0) {
      std::cout << fmt::format("; {} of the accepted {} published already", summary.duplicates(),
                               summary.duplicates() == 1 ? "was" : "were");
    }
    std::cout << "\n";
    if (summary.rejected() > 0) {
      std::cerr << "relay-chat: " << ui::sanitize_for_terminal(summary.first_rejection()) << "\n";
    }
  }
  return summary.rejected() == 0 ? 0 : 1;
}

}  // namespace relay::cli::app
