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
#include "cli/ui/sanitize.hpp"

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
  // Every notice here tells why the run fails: with --json it is also on
  // stderr, where a script that filters the JSON lines still sees it.
  void notice(std::string_view text) {
    if (json) {
      json->notice(text);
      std::cerr << "relay-chat: " << ui::sanitize_for_terminal(text) << "\n";
    } else {
      plain->notice(text);
    }
  }
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
  std::uint64_t published = 0;
  bool gave_up = false;
  while (auto line = lines.next()) {
    if (line->empty()) {
      continue;
    }
    // Too many unacknowledged: wait for the relay to catch up rather than
    // refuse a line a script gave us; a relay that frees no room within
    // --timeout is not acknowledging, and the rest of the input is not read.
    auto id = session.publish(room, *line);
    if (!id && session.unacked() > 0) {
      if (!session.wait_below_max_unacked(global.timeout)) {
        gave_up = true;
        break;
      }
      id = session.publish(room, *line);
    }
    if (!id) {
      output.notice("line not sent: it is longer than the relay accepts");
      ++refused;
      continue;
    }
    ++published;
  }
  const auto deadline = std::chrono::steady_clock::now() + global.timeout;
  const auto remaining = [&deadline] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now());
  };
  // What was published must be acknowledged, wherever the connection is at
  // the end; with nothing to send, a script still learns whether a relay is
  // there.
  const bool done =
      !gave_up && !interrupted() &&
      (published > 0 ? session.wait_all_acked(remaining()) : session.wait_connected(remaining()));
  const std::size_t unacked = session.unacked();
  const ConnectionStatus status = session.status();
  if (interrupted()) {
    session.stop(kStopOnSignalTimeout);
    return 1;  // the caller says which signal
  }
  // A relay that did not answer in time will not answer the half-close either.
  if (done) {
    session.stop();
  } else {
    session.stop(kStopOnSignalTimeout);
  }
  if (!done) {
    if (status.state != ConnectionState::connected) {
      output.notice(status.last_error.empty()
                        ? cannot_reach(global.target, no_answer_within(global.timeout), global.tls)
                        : status.last_error);
    }
    if (unacked > 0) {
      output.notice(fmt::format("{} not acknowledged within {} ms", ui::plural(unacked, "message"),
                                global.timeout.count()));
    }
    if (gave_up) {
      output.notice("the rest of the input was not read");
    }
    return 1;
  }
  if (session.refused() > 0) {
    output.notice("the relay refused " + ui::plural(session.refused(), "line"));
  }
  return refused == 0 && session.refused() == 0 ? 0 : 1;
}

int run_follow(const GlobalOptions& global, const std::vector<std::string>& rooms, bool presence,
               StopSignal& signals) {
  Output output(global);
  Follower follower(follow_options(global, rooms, presence), output.listener());
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
