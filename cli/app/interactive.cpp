#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "cli/app/chat_modes.hpp"
#include "cli/app/queries.hpp"
#include "cli/session/chat_session.hpp"
#include "cli/ui/commands.hpp"
#include "cli/ui/notices.hpp"
#include "cli/ui/terminal.hpp"

namespace relay::cli::app {
namespace {

// Turns the user's commands into session calls and queries. Runs on the
// terminal's key thread, one line at a time, so its own state needs no lock.
class Commander {
 public:
  Commander(const GlobalOptions& global, ChatSession& session, ui::Terminal& terminal)
      : session_(session),
        terminal_(terminal),
        calls_(session.channel(), interactive_queries(global), /*wait_for_serving=*/false) {}

  // From the stop signal's thread: a query in flight would keep the key thread.
  void cancel_queries() { calls_.cancel(); }

  void join(const std::string& room) {
    session_.join(room);
    rooms_.insert(room);
    current_ = room;
    terminal_.set_room(room);
  }

  void operator()(const ui::SendText& send) {
    if (current_.empty()) {
      terminal_.print_warning("join a room first: /join ROOM");
    } else if (session_.publish(current_, send.text)) {
      terminal_.note_publish(send.text);
    } else {
      terminal_.print_warning(fmt::format(
          "not sent: {}", send.text.size() > 64 * 1024
                              ? "messages are limited to 64 KiB"
                              : "too many messages wait for the relay; try again shortly"));
    }
  }
  void operator()(const ui::JoinRoom& command) { join(command.room); }
  void operator()(const ui::LeaveRoom& command) {
    const std::string room = command.room.value_or(current_);
    if (rooms_.erase(room) == 0) {
      terminal_.print_warning(fmt::format("you are not in #{}", room));
      return;
    }
    session_.leave(room);
    if (room == current_) {
      current_ = rooms_.empty() ? "" : *rooms_.begin();
      terminal_.set_room(current_);
    }
    terminal_.print_info(fmt::format("left #{}", room));
  }
  void operator()(const ui::SwitchRoom& command) {
    if (!rooms_.contains(command.room)) {
      terminal_.print_warning(fmt::format("join #{} first: /join {}", command.room, command.room));
      return;
    }
    current_ = command.room;
    terminal_.set_room(current_);
  }
  void operator()(const ui::ShowMembers& command) {
    v1::WhoResponse response;
    const std::string room = command.room.value_or(current_);
    if (auto status = fetch_members(calls_, room, response); !status.ok()) {
      terminal_.print_warning(calls_.describe_failure(status));
      return;
    }
    print_lines(fmt::format("in #{}:", room), member_lines(response));
  }
  void operator()(const ui::ListRooms&) {
    v1::ListRoomsResponse response;
    if (auto status = fetch_rooms(calls_, response); !status.ok()) {
      terminal_.print_warning(calls_.describe_failure(status));
      return;
    }
    print_lines("rooms:", room_lines(response));
  }
  void operator()(const ui::ShowHistory& command) {
    v1::HistoryResponse response;
    if (auto status = fetch_last_messages(calls_, current_, command.count, response);
        !status.ok()) {
      terminal_.print_warning(calls_.describe_failure(status));
      return;
    }
    terminal_.print_info(
        fmt::format("last {} of #{}:", ui::plural(response.messages_size(), "message"), current_));
    for (const auto& message : response.messages()) {
      terminal_.on_message(message);
    }
  }
  void operator()(const ui::ShowHelp&) { terminal_.print_info(ui::help_text()); }
  void operator()(const ui::Quit&) { terminal_.ask_to_quit(); }
  void operator()(const ui::BlankLine&) {}

 private:
  void print_lines(const std::string& title, const std::vector<std::string>& lines) {
    std::string text = title;
    for (const auto& line : lines) {
      text += "\n  " + line;
    }
    terminal_.print_info(text);
  }

  // Queries run on the key thread, so typing waits for them: keep them short,
  // and do not wait for a relay that says NOT_SERVING (the status line says
  // it already).
  static GlobalOptions interactive_queries(GlobalOptions global) {
    global.timeout = std::min(global.timeout, std::chrono::milliseconds(3000));
    return global;
  }

  ChatSession& session_;
  ui::Terminal& terminal_;
  RelayCalls calls_;
  std::set<std::string> rooms_;
  std::string current_;
};

// https://no-color.org, and terminals that cannot show colour.
bool wants_color() {
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return (no_color == nullptr || *no_color == '\0') &&
         (term == nullptr || std::string_view(term) != "dumb");
}

}  // namespace

int run_interactive(const GlobalOptions& global, const std::string& room, StopSignal& signals) {
  ui::Terminal terminal({.target = global.target, .user = global.user, .color = wants_color()},
                        std::cout);
  ChatSession session(session_options(global), terminal);
  Commander commander(global, session, terminal);
  terminal.on_line([&](std::string line) {
    std::visit(
        [&](const auto& parsed) {
          using T = std::decay_t<decltype(parsed)>;
          if constexpr (std::is_same_v<T, ui::CommandError>) {
            terminal.print_warning(parsed.message);
          } else {
            std::visit(commander, parsed);
          }
        },
        ui::parse_command(line));
  });
  const auto stop = signals.stop_with([&] {
    commander.cancel_queries();
    terminal.request_quit();
  });
  // Before the key thread starts: from then on only that thread commands.
  commander.join(room);
  terminal.start(STDIN_FILENO, STDOUT_FILENO);
  session.start();
  terminal.print_info("type a message and press Enter; /help lists the commands");
  terminal.wait_for_quit();
  if (signals.received() != 0) {
    session.stop(kStopOnSignalTimeout);
  } else {
    session.stop();
  }
  terminal.stop();
  // After the terminal is restored, so that the message stays on the screen.
  if (const std::size_t dropped = session.unacked(); dropped > 0) {
    std::cerr << fmt::format("relay-chat: {} not delivered: dropped when the chat ended\n",
                             ui::plural(dropped, "line"));
    return 1;
  }
  return 0;
}

}  // namespace relay::cli::app
