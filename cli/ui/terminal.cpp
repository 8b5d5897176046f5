#include "cli/ui/terminal.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <stdexcept>
#include <utility>

#include "cli/ui/notices.hpp"
#include "cli/ui/sanitize.hpp"
#include "cli/ui/status_line.hpp"
#include "cli/ui/terminal_style.hpp"
#include "cli/ui/tty.hpp"

namespace relay::cli::ui {
namespace {

constexpr std::string_view kPrompt = "> ";
// Often enough for a countdown in tenths of a second; an unchanged status
// line is not written again, so an idle chat writes nothing.
constexpr int kTickMs = 100;
constexpr std::string_view kEraseLine = "\r\x1b[2K";
// Long enough to read the warning and answer it, short enough that a /quit
// typed much later is a new decision.
constexpr auto kConfirmQuitWithin = std::chrono::seconds(10);
constexpr int kMinColumns = 10;
constexpr int kDefaultColumns = 80;

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string_view::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  lines.push_back(text.substr(start));
  return lines;
}

}  // namespace

Terminal::Terminal(TerminalOptions options, std::ostream& out)
    : options_(std::move(options)),
      out_(out),
      columns_(options_.columns > 0 ? options_.columns
                                    : terminal_columns(STDOUT_FILENO).value_or(kDefaultColumns)) {}

Terminal::~Terminal() { stop(); }

void Terminal::on_line(std::function<void(std::string)> handler) { on_line_ = std::move(handler); }

void Terminal::start(int input_fd, int output_fd) {
  raw_mode_ = std::make_unique<RawMode>(input_fd);
  wake_ = std::make_unique<WakePipe>();
  {
    const std::lock_guard lock(mutex_);
    columns_ = terminal_columns(output_fd).value_or(columns_);
    print_locked({});
  }
  key_reader_ = std::thread(&Terminal::read_keys, this, input_fd, output_fd);
}

void Terminal::stop() {
  if (key_reader_.joinable()) {
    if (key_reader_.get_id() == std::this_thread::get_id()) {
      throw std::logic_error("Terminal::stop() called from its own key thread");
    }
    stopping_ = true;
    wake_->wake();
    key_reader_.join();
  }
  if (raw_mode_) {
    {
      const std::lock_guard lock(mutex_);
      if (drawn_) {
        out_ << erase_locked() << std::flush;
        drawn_ = false;
      }
    }
    raw_mode_.reset();
    wake_.reset();
  }
}

void Terminal::wait_for_quit() {
  std::unique_lock lock(mutex_);
  quit_changed_.wait(lock, [this] { return quit_; });
}

bool Terminal::wait_for_quit(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return quit_changed_.wait_for(lock, timeout, [this] { return quit_; });
}

void Terminal::request_quit() {
  const std::lock_guard lock(mutex_);
  quit_locked();
}

void Terminal::quit_locked() {
  quit_ = true;
  quit_changed_.notify_all();
}

void Terminal::ask_to_quit() {
  const std::lock_guard lock(mutex_);
  ask_to_quit_locked();
}

void Terminal::ask_to_quit_locked() {
  const auto now = std::chrono::steady_clock::now();
  if (pending_.empty() || (quit_asked_at_ && now - *quit_asked_at_ < kConfirmQuitWithin)) {
    quit_locked();
    return;
  }
  quit_asked_at_ = now;
  const std::string text = plural(pending_.size(), "line") +
                           " not yet delivered: /quit again to drop " +
                           (pending_.size() == 1 ? "it" : "them") + ", or wait";
  print_locked({format_terminal_notice(text, true, options_.color)});
}

// An acknowledged or refused publish; the last one ends a quit that waited.
void Terminal::forget_pending_locked() {
  if (!pending_.empty()) {
    pending_.pop_front();
  }
  if (pending_.empty() && quit_asked_at_) {
    quit_locked();
  }
}

void Terminal::feed(std::string_view keys) {
  std::vector<std::string> submitted;
  {
    const std::lock_guard lock(mutex_);
    bool changed = false;
    for (const char key : keys) {
      switch (editor_.feed(key)) {
        case EditResult::none:
          break;
        case EditResult::changed:
          changed = true;
          break;
        case EditResult::submit:
          if (std::string line = editor_.take_line(); !line.empty()) {
            submitted.push_back(std::move(line));
          }
          changed = true;
          break;
        case EditResult::quit:
          ask_to_quit_locked();
          break;
        case EditResult::interrupt:
          quit_locked();
          break;
      }
    }
    if (changed) {
      redraw_input_locked();
    }
  }
  // Outside the lock: the handler publishes and prints through us.
  for (std::string& line : submitted) {
    if (on_line_) {
      on_line_(std::move(line));
    }
  }
}

void Terminal::resize(int columns) {
  const std::lock_guard lock(mutex_);
  columns_ = columns;
  print_locked({});
}

void Terminal::tick() {
  const std::lock_guard lock(mutex_);
  if (drawn_ && status_text_locked() != status_text_) {
    print_locked({});
  }
}

void Terminal::set_room(std::string room) {
  const std::lock_guard lock(mutex_);
  room_ = std::move(room);
  print_locked({});
}

void Terminal::note_publish(std::string body) {
  const std::lock_guard lock(mutex_);
  pending_.push_back(std::move(body));
  quit_asked_at_.reset();
  print_locked({});
}

void Terminal::print_info(std::string_view text) { print_notices(text, false); }

void Terminal::print_warning(std::string_view text) { print_notices(text, true); }

void Terminal::print_notices(std::string_view text, bool warning) {
  std::vector<std::string> lines;
  for (const std::string_view line : split_lines(text)) {
    lines.push_back(format_terminal_notice(sanitize_for_terminal(line), warning, options_.color));
  }
  const std::lock_guard lock(mutex_);
  print_locked(lines);
}

void Terminal::on_message(const v1::Message& message) {
  const std::string line = format_terminal_message(message, options_.user, options_.color);
  const std::lock_guard lock(mutex_);
  print_locked({line});
}

void Terminal::on_joined(const v1::Joined& joined, bool resumed) {
  const std::string line = format_terminal_notice(describe_joined(joined, resumed),
                                                  joined_lost_messages(joined), options_.color);
  const std::lock_guard lock(mutex_);
  if (resumed) {
    replayed_ += joined.replayed();
    missed_ += joined.missed();
    restarted_ = restarted_ || joined.epoch_changed();
    event_until_ = std::chrono::steady_clock::now() + options_.event_shown_for;
  }
  print_locked({line});
}

void Terminal::on_presence(const v1::Presence& presence) {
  const std::string line =
      format_terminal_notice(describe_presence(presence), false, options_.color);
  const std::lock_guard lock(mutex_);
  print_locked({line});
}

void Terminal::on_ack(const v1::PublishAck&) {
  // The relay answers one stream's publishes in the order they were written,
  // so the oldest pending one is the one acknowledged.
  const std::lock_guard lock(mutex_);
  forget_pending_locked();
  print_locked({});
}

void Terminal::on_error(const v1::ErrorNotice& error) {
  const std::string line = format_terminal_notice(describe_error(error), true, options_.color);
  const std::lock_guard lock(mutex_);
  // A refused publish will never be acknowledged, but one refused by a relay
  // that is shutting down is sent to the next one.
  if (!error.client_message_id().empty() &&
      error.code() != static_cast<int>(grpc::StatusCode::UNAVAILABLE)) {
    forget_pending_locked();
  }
  print_locked({line});
}

void Terminal::on_status(const ConnectionStatus& status) {
  std::vector<std::string> lines;
  const std::lock_guard lock(mutex_);
  const ConnectionState previous = status_.state;
  if (status.state == ConnectionState::reconnecting && !in_outage_) {
    in_outage_ = true;
    // Before the first connection there was none to lose.
    std::string text = ever_connected_ ? "connection lost" : "cannot connect";
    if (!status.last_error.empty()) {
      text += ": " + sanitize_for_terminal(status.last_error);
    }
    lines.push_back(format_terminal_notice(text, true, options_.color));
  } else if (status.state == ConnectionState::connected && previous != ConnectionState::connected) {
    const std::string text = in_outage_ && ever_connected_ ? "connected again" : "connected";
    in_outage_ = false;
    ever_connected_ = true;
    lines.push_back(format_terminal_notice(text, false, options_.color));
  }
  if (status.state != ConnectionState::connected) {
    replayed_ = 0;
    missed_ = 0;
    restarted_ = false;
    event_until_ = {};
  }
  status_ = status;
  retry_at_ = std::chrono::steady_clock::now() + status.retry_in;
  print_locked(lines);
}

void Terminal::print_locked(const std::vector<std::string>& lines) {
  // One string, one write: a terminal never shows half a frame, and stdio
  // cannot flush it in pieces at each newline.
  std::string frame = erase_locked();
  for (const std::string& line : lines) {
    frame += line;
    frame += "\r\n";
  }
  status_text_ = status_text_locked();
  status_width_ = display_width(status_text_);
  frame += format_status_bar(status_text_, usable_columns_locked(), options_.color);
  frame += "\r\n";
  frame += input_line_locked();
  out_ << frame << std::flush;
  drawn_ = true;
}

// Column 0, up to the status line, and erase from there to the end of the
// screen. Both lines are cut to the screen's width, so they are one row each,
// unless the window has just narrowed: terminals that reflow (most but xterm)
// then wrap each over several rows, and those rows are erased too, or a stale
// status line would be left behind on every resize.
std::string Terminal::erase_locked() const {
  if (!drawn_) {
    return std::string(kEraseLine);
  }
  const auto columns = static_cast<std::size_t>(std::max(columns_, kMinColumns));
  const std::size_t status_rows = std::max<std::size_t>(1, (status_width_ + columns - 1) / columns);
  const std::size_t rows_up = status_rows + cursor_column_ / columns;
  return "\r\x1b[" + (rows_up == 1 ? std::string() : std::to_string(rows_up)) + "A\x1b[J";
}

void Terminal::redraw_input_locked() {
  if (!drawn_) {
    print_locked({});
    return;
  }
  out_ << std::string(kEraseLine) + input_line_locked() << std::flush;
}

std::string Terminal::status_text_locked() const {
  const auto now = std::chrono::steady_clock::now();
  StatusLineParts parts;
  parts.connection = status_;
  parts.room = room_;
  parts.target = options_.target;
  if (status_.state == ConnectionState::reconnecting) {
    parts.connection.retry_in =
        std::max(std::chrono::ceil<std::chrono::milliseconds>(retry_at_ - now),
                 std::chrono::milliseconds::zero());
  }
  parts.unsent = pending_.size();
  if (!pending_.empty()) {
    parts.oldest_unsent = pending_.front();
  }
  if (now < event_until_) {
    parts.event = describe_rejoin(replayed_, missed_, restarted_);
  }
  return format_status_line(parts, usable_columns_locked());
}

std::string Terminal::input_line_locked() {
  InputLine line = format_input_line(kPrompt, editor_.text(), editor_.cursor(),
                                     usable_columns_locked(), view_start_);
  cursor_column_ = line.cursor_column;
  return std::move(line.text);
}

std::size_t Terminal::usable_columns_locked() const {
  // The last column is left alone: writing there leaves the cursor in a
  // pending-wrap state that terminals resolve differently.
  return static_cast<std::size_t>(std::max(columns_, kMinColumns) - 1);
}

void Terminal::read_keys(int input_fd, int output_fd) {
  std::array<pollfd, 2> watched{{{input_fd, POLLIN, 0}, {wake_->read_fd(), POLLIN, 0}}};
  std::array<char, 256> buffer{};
  while (!stopping_) {
    const int ready = ::poll(watched.data(), watched.size(), kTickMs);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if (ready == 0) {
      tick();
      continue;
    }
    if (watched[1].revents != 0 && wake_->drain()) {
      if (const auto columns = terminal_columns(output_fd)) {
        resize(*columns);
      }
    }
    if (stopping_ || watched[0].revents == 0) {
      continue;
    }
    const ssize_t count = ::read(input_fd, buffer.data(), buffer.size());
    if (count > 0) {
      feed(std::string_view(buffer.data(), static_cast<std::size_t>(count)));
    } else if (count == 0 || (errno != EINTR && errno != EAGAIN)) {
      break;  // the terminal is gone: nothing more can be typed
    }
  }
  if (!stopping_) {
    request_quit();
  }
}

}  // namespace relay::cli::ui
