#include "cli/ui/renderers.hpp"

#include <utility>

#include <nlohmann/json.hpp>

#include "cli/ui/notices.hpp"
#include "cli/ui/sanitize.hpp"

namespace relay::cli::ui {
namespace {

using nlohmann::json;

// Bodies are bytes on the wire and may hold invalid UTF-8, on which dump()
// would throw by default; replacing keeps every line parseable.
std::string dump_line(const json& object) {
  return object.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string format_plain_line(const v1::Message& message) {
  return "[" + sanitize_for_terminal(message.room()) + "] #" + std::to_string(message.sequence()) +
         " " + sanitize_for_terminal(message.sender()) + ": " +
         sanitize_for_terminal(message.body());
}

std::string format_json_line(const v1::Message& message) {
  return dump_line({{"type", "message"},
                    {"room", message.room()},
                    {"seq", message.sequence()},
                    {"epoch", message.epoch()},
                    {"sender", message.sender()},
                    {"id", message.client_message_id()},
                    {"time_us", message.server_time_us()},
                    {"body", message.body()}});
}

std::string format_json_line(const v1::Joined& joined, bool resumed) {
  return dump_line({{"type", "joined"},
                    {"room", joined.room()},
                    {"epoch", joined.epoch()},
                    {"seq", joined.sequence()},
                    {"replayed", joined.replayed()},
                    {"missed", joined.missed()},
                    {"epoch_changed", joined.epoch_changed()},
                    {"members", joined.members()},
                    {"resumed", resumed}});
}

std::string format_json_line(const v1::Presence& presence) {
  return dump_line({{"type", "presence"},
                    {"room", presence.room()},
                    {"user", presence.user()},
                    {"event", presence.kind() == v1::Presence::KIND_LEFT ? "left" : "joined"}});
}

std::string format_json_line(const v1::PublishAck& ack) {
  return dump_line({{"type", "ack"},
                    {"room", ack.room()},
                    {"id", ack.client_message_id()},
                    {"seq", ack.sequence()},
                    {"epoch", ack.epoch()},
                    {"duplicate", ack.duplicate()}});
}

std::string format_json_line(const v1::ErrorNotice& error) {
  return dump_line({{"type", "error"},
                    {"code", error.code()},
                    {"status", status_code_name(error.code())},
                    {"message", error.message()},
                    {"room", error.room()},
                    {"id", error.client_message_id()}});
}

std::string format_json_line(const ConnectionStatus& status) {
  return dump_line({{"type", "status"},
                    {"state", state_name(status.state)},
                    {"attempt", status.attempt},
                    {"retry_in_ms", status.retry_in.count()},
                    {"error", status.last_error}});
}

std::string format_notice_json_line(std::string_view text) {
  return dump_line({{"type", "notice"}, {"text", text}});
}

PlainRenderer::PlainRenderer(std::ostream& out, std::ostream& notices, std::string target)
    : out_(out), notices_(notices), target_(std::move(target)) {}

void PlainRenderer::on_message(const v1::Message& message) {
  write_line(out_, format_plain_line(message));
}

void PlainRenderer::on_joined(const v1::Joined& joined, bool resumed) {
  write_notice(describe_joined(joined, resumed));
}

void PlainRenderer::on_presence(const v1::Presence& presence) {
  write_notice(describe_presence(presence));
}

void PlainRenderer::on_ack(const v1::PublishAck&) {}

void PlainRenderer::on_error(const v1::ErrorNotice& error) { write_notice(describe_error(error)); }

void PlainRenderer::on_status(const ConnectionStatus& status) {
  std::string text = describe_status(status, target_, "");
  if (status.state != ConnectionState::connected && !status.last_error.empty()) {
    text += " (last error: " + sanitize_for_terminal(status.last_error) + ")";
  }
  write_notice(text);
}

void PlainRenderer::notice(std::string_view text) { write_notice(sanitize_for_terminal(text)); }

void PlainRenderer::write_notice(const std::string& sanitized_text) {
  write_line(notices_, "relay-chat: " + sanitized_text);
}

void PlainRenderer::write_line(std::ostream& stream, const std::string& line) {
  const std::lock_guard lock(mutex_);
  stream << line << '\n' << std::flush;
}

JsonRenderer::JsonRenderer(std::ostream& out) : out_(out) {}

void JsonRenderer::on_message(const v1::Message& message) { write_line(format_json_line(message)); }

void JsonRenderer::on_joined(const v1::Joined& joined, bool resumed) {
  write_line(format_json_line(joined, resumed));
}

void JsonRenderer::on_presence(const v1::Presence& presence) {
  write_line(format_json_line(presence));
}

void JsonRenderer::on_ack(const v1::PublishAck& ack) { write_line(format_json_line(ack)); }

void JsonRenderer::on_error(const v1::ErrorNotice& error) { write_line(format_json_line(error)); }

void JsonRenderer::on_status(const ConnectionStatus& status) {
  write_line(format_json_line(status));
}

void JsonRenderer::notice(std::string_view text) { write_line(format_notice_json_line(text)); }

void JsonRenderer::write_line(const std::string& line) {
  const std::lock_guard lock(mutex_);
  out_ << line << '\n' << std::flush;
}

}  // namespace relay::cli::ui
