#include "cli/app/chat_modes.hpp"

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/app/stdin_lines.hpp"
#include "cli/session/chat_session.hpp"
#include "cli/session/follower.hpp"
#include "cli/ui/notices.hpp"
#include "cli/ui/renderers.hpp"

namespace relay::cli::app {
namespace {

// Plain lines for people or JSON lines for programs, with notices (losses,
// reconnects, refusals) beside them.
struct Output {
  explicit Output(const GlobalOptions& global) {
    if (global.json) {
      json = std::make_unique<ui::JsonRenderer>(std::cout);
    } else {
      plain = std::make_unique<ui::PlainRenderer>(std::cout, std::cerr, global.target);
    }
  }
  SessionListener& listener() {
    return json ? static_cast<SessionListener&>(*json) : static_cast<SessionListener&>(*plain);
  }
  void notice(std::string_view text) { json ? json->notice(text) : plain->notice(text); }
  std::unique_ptr<ui::JsonRenderer> json;
  std::unique_ptr<ui::PlainRenderer> plain;
};

}  // namespace

int run_plain(const GlobalOptions& global, const std::string& room, StopSignal& signals) {
  Output output(global);
  ChatSession session(session_options(global), output.listener());
  StdinLines lines;
  signals.on_stop([&lines] { lines.interrupt(); });
  session.start();
  session.join(room);

  int refused = 0;
  while (auto line = lines.next()) {
    if (line->empty()) {
      continue;
    }
    // Too many unacknowledged: wait for the relay to catch up rather than
    // refuse a line a script gave us.
    auto id = session.publish(room, *line);
    if (!id && session.wait_all_acked(global.timeout)) {
      id = session.publish(room, *line);
    }
    if (!id) {
      output.notice(fmt::format("line not sent: {}", session.unacked() == 0
                                                         ? "it is longer than 64 KiB"
                                                         : "the relay is not acknowledging"));
      ++refused;
    }
  }
  if (lines.interrupted()) {
    session.stop();
    return 0;
  }
  const bool all_acked = session.wait_all_acked(global.timeout);
  const std::size_t unacked = session.unacked();
  session.stop();
  // refused() is final once the session has stopped.
  if (!all_acked) {
    output.notice(fmt::format("{} not acknowledged within {} ms", ui::plural(unacked, "message"),
                              global.timeout.count()));
    return 1;
  }
  if (session.refused() > 0) {
    output.notice("the relay refused " + ui::plural(session.refused(), "line"));
  }
  return refused == 0 && session.refused() == 0 ? 0 : 1;
}

int run_follow(const GlobalOptions& global, const std::vector<std::string>& rooms,
               StopSignal& signals) {
  Output output(global);
  Follower follower(follow_options(global, rooms), output.listener());
  signals.on_stop([&follower] { follower.stop(); });
  const grpc::Status status = follower.run();
  if (!status.ok()) {
    output.notice(status.error_message());
    return 1;
  }
  return 0;
}

}  // namespace relay::cli::app
