#include "cli/app/chat_modes.hpp"

#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/app/stdin_lines.hpp"
#include "cli/session/chat_session.hpp"
#include "cli/session/follower.hpp"
#include "cli/session/status_text.hpp"
#include "cli/ui/notices.hpp"
#include "cli/ui/outage_digest.hpp"
#include "cli/ui/renderers.hpp"

namespace relay::cli::app {
namespace {

// Plain lines for people or JSON lines for programs, with notices (losses,
// reconnects, refusals) beside them. Programs get every status change; people
// get an outage digested.
struct Output {
  explicit Output(const GlobalOptions& global) {
    if (global.json) {
      json = std::make_unique<ui::JsonRenderer>(std::cout);
    } else {
      plain = std::make_unique<ui::PlainRenderer>(std::cout, std::cerr, global.target);
      digest = std::make_unique<ui::OutageDigest>(*plain);
    }
  }
  SessionListener& listener() {
    return json ? static_cast<SessionListener&>(*json) : static_cast<SessionListener&>(*digest);
  }
  void notice(std::string_view text) { json ? json->notice(text) : plain->notice(text); }
  std::unique_ptr<ui::JsonRenderer> json;
  std::unique_ptr<ui::PlainRenderer> plain;
  std::unique_ptr<ui::OutageDigest> digest;
};

}  // namespace

int run_plain(const GlobalOptions& global, const std::string& room, StopSignal& signals) {
  Output output(global);
  ChatSession session(session_options(global), output.listener());
  StdinLines lines;
  const auto stop = signals.stop_with([&] {
    lines.interrupt();
    session.request_stop();
  });
  const auto interrupted = [&signals] { return signals.received() != 0; };
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
  // Even with nothing to send, a script learns whether a relay is there.
  const auto deadline = std::chrono::steady_clock::now() + global.timeout;
  const auto remaining = [&deadline] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };
  const bool connected = !interrupted() && session.wait_connected(remaining());
  const bool all_acked = connected && session.wait_all_acked(remaining());
  const std::size_t unacked = session.unacked();
  const ConnectionStatus status = session.status();
  if (interrupted()) {
    session.stop(kStopOnSignalTimeout);
    return 1;  // the caller says which signal
  }
  session.stop();
  if (!connected) {
    output.notice(status.last_error.empty()
                      ? cannot_reach(global.target, no_answer_within(global.timeout))
                      : status.last_error);
  }
  // refused() is final once the session has stopped.
  if (!all_acked && unacked > 0) {
    output.notice(fmt::format("{} not acknowledged within {} ms", ui::plural(unacked, "message"),
                              global.timeout.count()));
  }
  if (!all_acked) {
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
  const auto stop = signals.stop_with([&follower] { follower.stop(); });
  const grpc::Status status = follower.run();
  if (signals.received() != 0) {
    return 1;  // the caller says which signal
  }
  if (!status.ok()) {
    output.notice(status.error_message());
    return 1;
  }
  return 0;
}

}  // namespace relay::cli::app
