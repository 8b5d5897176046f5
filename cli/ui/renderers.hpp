#pragma once

#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "cli/session/chat_session.hpp"

namespace relay::cli::ui {

// "[lobby] #42 alice: hello", sanitized for a terminal, without a newline.
std::string format_plain_line(const v1::Message& message);

// One JSON object on one line, without a newline, always valid UTF-8 (invalid
// bytes in a body become U+FFFD), for jq and other programs:
//   {"type":"message","room":..,"seq":..,"epoch":..,"sender":..,"id":..,"time_us":..,"body":..}
//   {"type":"joined","room":..,"epoch":..,"seq":..,"replayed":..,"missed":..,
//    "epoch_changed":..,"members":..,"resumed":..}
//   {"type":"presence","room":..,"user":..,"event":"joined"|"left"}
//   {"type":"ack","room":..,"id":..,"seq":..,"epoch":..,"duplicate":..}
//   {"type":"error","code":3,"status":"INVALID_ARGUMENT","message":..,"room":..,"id":..}
//   {"type":"status","state":"reconnecting","attempt":3,"retry_in_ms":2300,"error":..}
//   {"type":"notice","text":..}
// Control characters are escaped by JSON itself; other characters, bidi
// controls included, are written as UTF-8 for the reading program to judge.
std::string format_json_line(const v1::Message& message);
std::string format_json_line(const v1::Joined& joined, bool resumed);
std::string format_json_line(const v1::Presence& presence);
std::string format_json_line(const v1::PublishAck& ack);
std::string format_json_line(const v1::ErrorNotice& error);
std::string format_json_line(const ConnectionStatus& status);
std::string format_notice_json_line(std::string_view text);

// For scripts and logs: each delivered message as one plain line on `out`;
// joins, losses, presence, errors and connection changes as "relay-chat: ..."
// lines on `notices` (stderr), so `relay-chat ... > log` keeps only messages.
// Acknowledgements are not shown. Safe to call from several threads: each
// line is written and flushed whole under one lock.
class PlainRenderer final : public SessionListener {
 public:
  // `target` names the relay in connection notices.
  PlainRenderer(std::ostream& out, std::ostream& notices, std::string target = {});

  void on_message(const v1::Message& message) override;
  void on_joined(const v1::Joined& joined, bool resumed) override;
  void on_presence(const v1::Presence& presence) override;
  void on_ack(const v1::PublishAck& ack) override;
  void on_error(const v1::ErrorNotice& error) override;
  void on_status(const ConnectionStatus& status) override;

  // Writes "relay-chat: <text>" (sanitized) to the notice stream.
  void notice(std::string_view text);

 private:
  void write_line(std::ostream& stream, const std::string& line);
  void write_notice(const std::string& sanitized_text);

  std::ostream& out_;
  std::ostream& notices_;
  const std::string target_;
  std::mutex mutex_;
};

// Every event as one JSON line (see format_json_line) on `out`, flushed per
// line so that `relay-chat --json | jq` shows messages as they arrive.
class JsonRenderer final : public SessionListener {
 public:
  explicit JsonRenderer(std::ostream& out);

  void on_message(const v1::Message& message) override;
  void on_joined(const v1::Joined& joined, bool resumed) override;
  void on_presence(const v1::Presence& presence) override;
  void on_ack(const v1::PublishAck& ack) override;
  void on_error(const v1::ErrorNotice& error) override;
  void on_status(const ConnectionStatus& status) override;

  // Writes {"type":"notice","text":...}.
  void notice(std::string_view text);

 private:
  void write_line(const std::string& line);

  std::ostream& out_;
  std::mutex mutex_;
};

}  // namespace relay::cli::ui
