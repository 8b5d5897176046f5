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

std::unique_ptr<v1::Relay::Stub> stub_for(const GlobalOptions& global) {
  return v1::Relay::NewStub(make_channel(global.target));
}

// One-shot calls wait for a relay that is starting, up to --timeout.
std::unique_ptr<grpc::ClientContext> context_for(const GlobalOptions& global) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_wait_for_ready(true);
  context->set_deadline(std::chrono::system_clock::now() + global.timeout);
  context->AddMetadata(common::kUserKey, global.user);
  return context;
}

int failed(const grpc::Status& status) {
  std::cerr << describe_failure(status) << "\n";
  return 1;
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

std::string describe_failure(const grpc::Status& status) {
  return "relay-chat: " + ui::sanitize_for_terminal(describe_grpc_status(status));
}

grpc::Status fetch_rooms(v1::Relay::Stub& stub, const GlobalOptions& global,
                         v1::ListRoomsResponse& response) {
  auto context = context_for(global);
  return stub.ListRooms(context.get(), {}, &response);
}

grpc::Status fetch_last_messages(v1::Relay::Stub& stub, const GlobalOptions& global,
                                 const std::string& room, int count,
                                 v1::HistoryResponse& response) {
  const auto call = [&stub, &global](const v1::HistoryRequest& request, v1::HistoryResponse& page) {
    auto context = context_for(global);
    return stub.History(context.get(), request, &page);
  };
  return cli::fetch_history_tail(call, room, static_cast<std::uint32_t>(count), response);
}

grpc::Status fetch_members(v1::Relay::Stub& stub, const GlobalOptions& global,
                           const std::string& room, v1::WhoResponse& response) {
  v1::WhoRequest request;
  request.set_room(room);
  auto context = context_for(global);
  return stub.Who(context.get(), request, &response);
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
  for (const auto& member : response.members()) {
    lines.push_back(ui::sanitize_for_terminal(member.user()) +
                    (member.streams() > 1 ? fmt::format(" ({} streams)", member.streams()) : ""));
  }
  if (response.followers() > 0) {
    lines.push_back("and " + ui::plural(response.followers(), "follower"));
  }
  return lines;
}

int list_rooms(const GlobalOptions& global) {
  v1::ListRoomsResponse response;
  if (auto status = fetch_rooms(*stub_for(global), global, response); !status.ok()) {
    return failed(status);
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

int show_history(const GlobalOptions& global, const std::string& room, int count) {
  v1::HistoryResponse response;
  if (auto status = fetch_last_messages(*stub_for(global), global, room, count, response);
      !status.ok()) {
    return failed(status);
  }
  for (const auto& message : response.messages()) {
    std::cout << (global.json ? ui::format_json_line(message) : ui::format_plain_line(message))
              << "\n";
  }
  return 0;
}

int show_members(const GlobalOptions& global, const std::string& room) {
  v1::WhoResponse response;
  if (auto status = fetch_members(*stub_for(global), global, room, response); !status.ok()) {
    return failed(status);
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

int send_lines(const GlobalOptions& global, const std::string& room) {
  // A bulk send may take longer than a query: no deadline while lines flow.
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_wait_for_ready(true);
  context->AddMetadata(common::kUserKey, global.user);
  v1::PublishBatchSummary summary;
  auto stub = stub_for(global);
  auto writer = stub->PublishBatch(context.get(), &summary);
  StdinLines lines;
  std::uint64_t sent = 0;
  const std::string id_prefix = batch_id_prefix();
  while (auto line = lines.next()) {
    if (line->empty()) {
      continue;  // as in the chat: an empty line is no message
    }
    v1::PublishRequest request;
    request.set_room(room);
    request.set_body(*line);
    request.set_client_message_id(id_prefix + std::to_string(sent + 1));
    if (!writer->Write(request)) {
      break;
    }
    ++sent;
  }
  writer->WritesDone();
  const auto status = writer->Finish();
  if (!status.ok()) {
    const auto& trailers = context->GetServerTrailingMetadata();
    if (const auto found = trailers.find(common::kAcceptedKey); found != trailers.end()) {
      std::cerr << fmt::format(
          "relay-chat: the relay accepted {} of the {} sent\n",
          ui::sanitize_for_terminal(std::string(found->second.data(), found->second.size())),
          ui::plural(sent, "line"));
    }
    return failed(status);
  }
  if (global.json) {
    print_json({{"sent", sent},
                {"accepted", summary.accepted()},
                {"rejected", summary.rejected()},
                {"first_rejection", summary.first_rejection()},
                {"first_seq", summary.first_sequence()},
                {"last_seq", summary.last_sequence()}});
  } else {
    std::cout << fmt::format("{} accepted, {} rejected", summary.accepted(), summary.rejected());
    if (summary.accepted() > 0) {
      std::cout << fmt::format(" (#{}..#{})", summary.first_sequence(), summary.last_sequence());
    }
    std::cout << "\n";
    if (summary.rejected() > 0) {
      std::cerr << "relay-chat: " << ui::sanitize_for_terminal(summary.first_rejection()) << "\n";
    }
  }
  return summary.rejected() == 0 ? 0 : 1;
}

}  // namespace relay::cli::app
