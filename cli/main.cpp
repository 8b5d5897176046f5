// relay-chat: the terminal client of the relay, and its scripting tool.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/app/chat_modes.hpp"
#include "cli/app/health.hpp"
#include "cli/app/options.hpp"
#include "cli/app/queries.hpp"
#include "cli/app/stop_signal.hpp"
#include "cli/tls_options.hpp"
#include "common/validation.hpp"

namespace {

using relay::cli::app::GlobalOptions;

constexpr const char* kExamples = R"(
Examples:
  relay-chat --room lobby                      chat in #lobby (interactive in a terminal)
  relay-chat --user bob --room lobby           a second user, from another terminal
  printf 'a\nb\n' | relay-chat --room build    publish two lines, exit once both are acknowledged
  printf 'done\n' | relay-chat --json --room ops
                                               publish, print the message and its ack as JSON lines
  relay-chat follow lobby ops --json | jq -r 'select(.type == "message") | .body'
                                               tail rooms, print each new message's text
  relay-chat send lobby < notes.txt            bulk publish a file, one message per line
  relay-chat rooms                             the relay's rooms
  relay-chat history lobby -n 50               the last 50 messages of #lobby
  relay-chat who lobby                         the members of #lobby
  relay-chat health                            exit 0 when the relay serves (Docker's HEALTHCHECK)
  relay-chat --relay ipv4:127.0.0.1:50051,127.0.0.1:50052 --room lobby
                                               fail over between two relays (that do not
                                               share rooms: see the README)

Options may come before or after a subcommand.
In the chat, a line is sent to the current room; /help lists the commands
(/join, /leave, /switch, /who, /rooms, /history, /quit).
)";

// A subcommand's help shows only its own options; say where the others are.
std::string subcommand_footer(std::string_view examples) {
  return fmt::format(
      "\nExamples:\n{}\nThe options of relay-chat (--relay, --user, --timeout, ...) may come\n"
      "before or after the subcommand; relay-chat --help lists them.\n",
      examples);
}

// A name that is not valid would be refused by the relay on every call.
std::string default_user() {
  const char* user = std::getenv("USER");
  if (user == nullptr || *user == '\0') {
    return "guest";
  }
  if (!relay::common::validate_user_name(user)) {
    return user;
  }
  std::string mapped = relay::common::to_user_name(user);
  std::cerr << fmt::format(
      "relay-chat: $USER {} is not a valid user name (1-32 of A-Z a-z 0-9 _ . -); using \"{}\", "
      "or choose one with --user\n",
      relay::common::quote_for_humans(user), mapped);
  return mapped;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts, so every thread has the signals blocked.
  relay::cli::app::StopSignal signals;

  GlobalOptions global;
  std::string room = "lobby";
  bool plain = false;
  double timeout_s = 10;
  int backoff_max_ms = 30000;

  CLI::App app("Chat through a relay: interactively in a terminal, or from scripts and pipes.",
               "relay-chat");
  app.footer(kExamples);
  // Subcommands inherit it: `relay-chat follow ci --json` reads as people write it.
  app.fallthrough();
  app.add_option("--relay", global.target,
                 "gRPC target of the relay(s): HOST:PORT, ipv4:A:P,B:P or dns:///NAME:PORT")
      ->capture_default_str();
  app.add_option("--user", global.user, "Your name (1-32 of A-Z a-z 0-9 _ . -); default $USER")
      ->check([](const std::string& user) {
        return relay::common::validate_user_name(user).value_or("");
      });
  app.add_option("--room", room, "Room to join (the chat) and publish stdin lines to (--plain)")
      ->capture_default_str()
      ->check([](const std::string& name) {
        return relay::common::validate_room_name(name).value_or("");
      });
  app.add_flag("--plain", plain,
               "Line mode even in a terminal: stdin lines are published, messages printed as "
               "\"[room] #seq sender: text\" (the default when stdin or stdout is not a terminal)");
  app.add_flag("--json", global.json, "Print one JSON object per line (implies --plain)");
  app.add_option("--timeout", timeout_s,
                 "Seconds to wait for a relay that does not answer (every mode) or does not "
                 "serve yet (all but health and the chat's /rooms, /who, /history), and for "
                 "acknowledgements at end of input")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  relay::cli::add_tls_options(app, global.tls);
  auto* token_file =
      app.add_option("--token-file", global.token.file,
                     "File with a bearer token (relay-token prints one) for a relay with "
                     "--auth-key; read again at every call and whenever the relay says the token "
                     "expires soon, so a file renewed in place keeps the chat going");
  app.add_option("--token-command", global.token.command,
                 "Command (run by /bin/sh) that prints a fresh bearer token, run at every call "
                 "and whenever the relay says the token expires soon; it has 10 s")
      ->excludes(token_file);
  app.add_option("--backoff-max-ms", backoff_max_ms, "Longest wait between reconnection attempts")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600000));

  // Each subcommand's own --json is the main one's, repeated so that its help lists it.
  const auto add_json = [&global](CLI::App* command) {
    command->add_flag("--json", global.json, "Print one JSON object per line");
  };

  std::vector<std::string> follow_rooms;
  bool follow_presence = false;
  auto* follow = app.add_subcommand("follow", "Tail rooms (read-only), resuming after reconnects");
  follow->add_option("rooms", follow_rooms, "Rooms to follow")->required();
  follow->add_flag("--presence", follow_presence,
                   "Also print who joins and leaves the rooms (the chat always shows it)");
  add_json(follow);
  follow->footer(subcommand_footer(
      R"(  relay-chat follow lobby                      print #lobby's new messages until Ctrl-C
  relay-chat follow lobby ops --json | jq -r 'select(.type == "message") | .body'
                                               the text of each new message in #lobby and #ops
)"));
  std::string send_room;
  auto* send = app.add_subcommand("send", "Publish every stdin line to ROOM in one batch");
  send->add_option("room", send_room, "Room to publish to")->required();
  add_json(send);
  send->footer(subcommand_footer(
      "  relay-chat send lobby < notes.txt            one message per line, then a summary\n"));
  auto* rooms = app.add_subcommand("rooms", "List the relay's rooms");
  add_json(rooms);
  rooms->footer(subcommand_footer(
      "  relay-chat rooms --json                      one JSON object per room\n"));
  std::string history_room;
  int history_count = 20;
  auto* history = app.add_subcommand("history", "Print the last messages of ROOM");
  history->add_option("room", history_room, "Room")->required();
  history->add_option("-n,--count", history_count, "How many (1-1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  add_json(history);
  history->footer(subcommand_footer(
      "  relay-chat history lobby -n 50 --json        the last 50 messages of #lobby, as JSON\n"));
  std::string who_room;
  auto* who = app.add_subcommand("who", "List the members of ROOM");
  who->add_option("room", who_room, "Room")->required();
  add_json(who);
  who->footer(
      subcommand_footer("  relay-chat who lobby                         the members of #lobby\n"));
  std::string health_service;
  auto* health = app.add_subcommand(
      "health", "Ask the relay's grpc.health.v1 service whether it serves; exit 0 if it does");
  health->add_option("--service", health_service,
                     "The service to ask about: relay.v1.Relay, or \"\" (the default) for "
                     "the relay as a whole");
  health->footer(subcommand_footer(
      R"(  relay-chat health                            "the relay at ADDRESS is SERVING", exit 0
  relay-chat health --service relay.v1.Relay --timeout 1
                                               the relay's chat service, within a second

--timeout is 3 s here unless given. Exit codes: 0 SERVING; 1 anything else, with
the reason on stderr: NOT_SERVING (the relay is shutting down), SERVICE_UNKNOWN
(no such --service), or no relay reached within --timeout (connection refused,
no answer); 2 bad command line. Docker's HEALTHCHECK takes 1 as unhealthy.
)"));
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (app.count("--user") == 0) {
    global.user = default_user();
  }
  if (const auto credentials = relay::common::channel_credentials(global.tls);
      const auto* problem = std::get_if<std::string>(&credentials)) {
    std::cerr << "relay-chat: " << *problem << "\n";
    return 2;
  }
  if (std::string why; !global.token.empty() && !relay::cli::fetch_token(global.token, why)) {
    std::cerr << "relay-chat: " << why << "\n";
    return 2;
  }
  global.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  if (*health && app.count("--timeout") == 0) {
    global.timeout = relay::cli::app::kHealthTimeout;
  }
  global.backoff_max = std::chrono::milliseconds(backoff_max_ms);

  using namespace relay::cli::app;
  const int code = [&] {
    if (*follow) {
      return run_follow(global, follow_rooms, follow_presence, signals);
    }
    if (*send) {
      return send_lines(global, send_room, signals);
    }
    if (*rooms) {
      return list_rooms(global, signals);
    }
    if (*history) {
      return show_history(global, history_room, history_count, signals);
    }
    if (*who) {
      return show_members(global, who_room, signals);
    }
    if (*health) {
      return check_health(global, health_service, signals);
    }
    const bool terminal = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
    if (plain || global.json || !terminal) {
      return run_plain(global, room, signals);
    }
    return run_interactive(global, room, signals);
  }();
  // Whatever the mode was doing, a stop signal ends it with the shell's
  // convention for a process killed by that signal, so scripts can tell.
  if (const int signal = signals.received(); signal != 0) {
    std::cerr << "relay-chat: stopped by " << (signal == SIGINT ? "SIGINT" : "SIGTERM") << "\n";
    return 128 + signal;
  }
  return code;
}
