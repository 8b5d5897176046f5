#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/session/chat_session.hpp"
#include "cli/ui/line_editor.hpp"

namespace relay::cli::ui {

class RawMode;
class WakePipe;

struct TerminalOptions {
  // The relay, as shown in the status line.
  std::string target;
  // Our user name: our own delivered messages are marked.
  std::string user;
  bool color = true;
  // The screen width; 0: the width of the terminal on standard output (80
  // when it is not one). start() reads the width of its output terminal.
  int columns = 0;
  // How long the status line says what a reconnect found ("resumed, 12
  // replayed") before it goes back to the steady state.
  std::chrono::milliseconds event_shown_for{5000};
};

// The interactive front end of relay-chat. The bottom two lines of the screen
// are a status line (see format_status_line: the connection and its reconnect
// countdown, publishes not yet acknowledged, the current room, what a
// reconnect found, the relay) and the input line the user types on. Every event is printed
// by erasing those two lines, writing the event's line(s), and drawing them
// again with the user's partial input and cursor where they were: whole
// frames are written under one lock, so incoming messages scroll above the
// input and never garble it, whichever thread they come from.
//
// Own publishes: note_publish() shows "(sending) text" in the status line
// until the relay acknowledges it (or refuses it); once delivered, our own
// lines carry a "✓".
//
// Everything but start() and stop() works without a terminal, on any
// ostream, so tests feed keys with feed() and read the frames written.
class Terminal final : public SessionListener {
 public:
  Terminal(TerminalOptions options, std::ostream& out);
  // Stops; never from the on_line handler.
  ~Terminal() override;
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Receives each non-empty line the user submits. Called on the key-reading
  // thread (or feed()'s caller), without the terminal's lock held, so it may
  // call back into the Terminal and into the session. Set it before start().
  void on_line(std::function<void(std::string)> handler);

  // Puts the terminal on `input_fd` in raw mode, draws the status and input
  // lines and reads keys on a thread of its own. Throws std::system_error
  // when `input_fd` is not a terminal: check isatty() first.
  void start(int input_fd = 0, int output_fd = 1);
  // Ends the key thread, erases the status and input lines and restores the
  // terminal mode. Idempotent; throws std::logic_error on the key thread.
  void stop();

  // Blocks until the user quits (Ctrl-C, Ctrl-D on an empty line, end of
  // input) or request_quit() is called.
  void wait_for_quit();
  // The same, for at most `timeout`: whether the user has quit.
  bool wait_for_quit(std::chrono::milliseconds timeout);
  void request_quit();
  // The user asked to quit (/quit, or Ctrl-D on an empty line). With lines
  // not yet acknowledged, quitting would drop them: it warns instead, quits
  // once they are acknowledged, and quits anyway when asked again within
  // 10 s. A new line typed meanwhile cancels the request.
  void ask_to_quit();

  // Handles keyboard bytes as if typed (the key thread calls this).
  void feed(std::string_view keys);

  // The window is now `columns` wide: draw again (the key thread calls this
  // on SIGWINCH).
  void resize(int columns);
  // Draws the status line again if its text has changed with time (the
  // reconnect countdown, a reconnect's outcome that expired); the key thread
  // calls this every 100 ms.
  void tick();

  // The room plain lines go to, for the status line.
  void set_room(std::string room);
  // One of our publishes was queued: shown as pending until acknowledged.
  void note_publish(std::string body);
  // Lines of ours (command results, help), sanitized, one "-- " line each;
  // warnings are "!! " lines in yellow.
  void print_info(std::string_view text);
  void print_warning(std::string_view text);

  void on_message(const v1::Message& message) override;
  void on_joined(const v1::Joined& joined, bool resumed) override;
  void on_presence(const v1::Presence& presence) override;
  void on_ack(const v1::PublishAck& ack) override;
  void on_error(const v1::ErrorNotice& error) override;
  void on_status(const ConnectionStatus& status) override;

 private:
  void print_notices(std::string_view text, bool warning);
  void quit_locked();
  void ask_to_quit_locked();
  void forget_pending_locked();
  // Erases the status and input lines, writes `lines`, draws both again.
  void print_locked(const std::vector<std::string>& lines);
  std::string erase_locked() const;
  std::string status_text_locked() const;
  std::string input_line_locked();
  std::size_t usable_columns_locked() const;
  void redraw_input_locked();
  void read_keys(int input_fd, int output_fd);

  const TerminalOptions options_;
  std::ostream& out_;
  std::function<void(std::string)> on_line_;

  std::mutex mutex_;
  std::condition_variable quit_changed_;
  bool quit_ = false;  // guarded by mutex_
  // When the user asked to quit with lines pending; guarded by mutex_.
  std::optional<std::chrono::steady_clock::time_point> quit_asked_at_;
  int columns_;                 // guarded by mutex_
  LineEditor editor_;           // guarded by mutex_
  std::size_t view_start_ = 0;  // first byte of the input shown; guarded by mutex_
  // What the last frame drew, to erase it: the status line's width and the
  // cursor's column on the input line. Guarded by mutex_.
  std::size_t status_width_ = 0;
  std::size_t cursor_column_ = 0;
  bool drawn_ = false;       // the status and input lines are on screen; guarded by mutex_
  std::string status_text_;  // the status line last drawn; guarded by mutex_
  std::string room_;         // guarded by mutex_
  ConnectionStatus status_;  // guarded by mutex_
  // The connection was lost and has not come back: an outage is told once,
  // not at every failed attempt of it.
  bool in_outage_ = false;                          // guarded by mutex_
  bool ever_connected_ = false;                     // guarded by mutex_
  std::chrono::steady_clock::time_point retry_at_;  // guarded by mutex_
  // What the rejoins since the last connection found, shown until
  // event_until_. Guarded by mutex_.
  std::uint64_t replayed_ = 0;
  std::uint64_t missed_ = 0;
  bool restarted_ = false;
  std::chrono::steady_clock::time_point event_until_;
  std::deque<std::string> pending_;  // bodies sent, not yet acknowledged; guarded by mutex_

  std::unique_ptr<RawMode> raw_mode_;
  std::unique_ptr<WakePipe> wake_;
  std::atomic<bool> stopping_{false};
  std::thread key_reader_;
};

}  // namespace relay::cli::ui
