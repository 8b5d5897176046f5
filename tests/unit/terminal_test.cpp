#include <doctest/doctest.h>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/ui/line_editor.hpp"
#include "cli/ui/terminal.hpp"
#include "cli/ui/terminal_style.hpp"
#include "cli/ui/tty.hpp"

namespace {

using namespace relay::cli::ui;
using relay::cli::ConnectionState;
using relay::cli::ConnectionStatus;
namespace v1 = relay::v1;

// Just enough of a VT100 to replay what Terminal writes: printing with
// deferred wrap, CR, LF, cursor up and right, erase line and erase below.
// Colours are ignored; any other escape sequence is recorded as unexpected,
// so a test also proves that nothing else reaches the terminal.
class Screen {
 public:
  explicit Screen(std::size_t columns) : columns_(columns), rows_(1) {}

  void write(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      const char c = bytes[i];
      if (c == '\x1b') {
        i = escape(bytes, i);
      } else if (c == '\r') {
        column_ = 0;
      } else if (c == '\n') {
        down();
      } else {
        std::size_t length = 1;
        while (i + length < bytes.size() &&
               (static_cast<unsigned char>(bytes[i + length]) & 0xC0) == 0x80) {
          ++length;
        }
        put(std::string(bytes.substr(i, length)));
        i += length - 1;
      }
    }
  }

  // Every row written so far, trailing blanks trimmed.
  std::vector<std::string> rows() const {
    std::vector<std::string> text;
    for (const auto& cells : rows_) {
      std::string line;
      for (const auto& cell : cells) {
        line += cell.empty() ? " " : cell;
      }
      text.push_back(line.substr(0, line.find_last_not_of(' ') + 1));
    }
    return text;
  }
  std::size_t row() const { return row_; }
  std::size_t column() const { return column_; }
  const std::vector<std::string>& unexpected() const { return unexpected_; }

 private:
  std::size_t escape(std::string_view bytes, std::size_t at) {
    std::size_t end = at + 2;
    while (end < bytes.size() && !(bytes[end] >= 0x40 && bytes[end] <= 0x7E)) {
      ++end;
    }
    const std::string_view sequence = bytes.substr(at, end - at + 1);
    const std::string_view parameters = sequence.substr(2, sequence.size() - 3);
    if (sequence == "\x1b[A") {
      row_ = row_ > 0 ? row_ - 1 : 0;
    } else if (sequence == "\x1b[J") {
      cells().resize(std::min(cells().size(), column_));
      rows_.resize(row_ + 1);
    } else if (sequence == "\x1b[2K") {
      cells().clear();
    } else if (sequence.ends_with('C')) {
      column_ += static_cast<std::size_t>(std::atoi(std::string(parameters).c_str()));
    } else if (!sequence.ends_with('m')) {
      unexpected_.emplace_back(sequence);
    }
    return end;
  }
  void down() {
    ++row_;
    if (rows_.size() <= row_) {
      rows_.resize(row_ + 1);
    }
  }
  void put(std::string cell) {
    if (column_ >= columns_) {
      column_ = 0;
      down();
    }
    if (cells().size() <= column_) {
      cells().resize(column_ + 1);
    }
    cells()[column_++] = std::move(cell);
  }
  std::vector<std::string>& cells() { return rows_[row_]; }

  std::size_t columns_;
  std::vector<std::vector<std::string>> rows_;
  std::size_t row_ = 0;
  std::size_t column_ = 0;
  std::vector<std::string> unexpected_;
};

v1::Message message(const std::string& room, const std::string& sender, const std::string& body) {
  v1::Message result;
  result.set_room(room);
  result.set_sequence(1);
  result.set_sender(sender);
  result.set_server_time_us(1'700'000'000'000'000);
  result.set_body(body);
  return result;
}

TerminalOptions plain_options(int columns = 60) {
  TerminalOptions options;
  options.target = "relay:1";
  options.user = "me";
  options.color = false;
  options.columns = columns;
  return options;
}

Screen replay(const std::ostringstream& out, std::size_t columns = 60) {
  Screen screen(columns);
  screen.write(out.str());
  CHECK(screen.unexpected().empty());
  return screen;
}

std::string feed_all(LineEditor& editor, std::string_view keys) {
  for (const char key : keys) {
    editor.feed(key);
  }
  return editor.text();
}

}  // namespace

TEST_CASE("the line editor inserts, deletes and moves by whole characters") {
  LineEditor editor;
  CHECK(feed_all(editor, "caf\xc3") == "caf");  // half a character waits for the rest
  CHECK(feed_all(editor, "\xa9!") == "caf\u00e9!");
  CHECK(feed_all(editor, "\x7f\x7f") == "caf");
  CHECK(feed_all(editor, "\x1b[D\x1b[DX") == "cXaf");
  CHECK(editor.cursor() == 2);
  CHECK(feed_all(editor, "\x1b[3~") == "cXf");
  CHECK(feed_all(editor, "\x1b[H>\x1b[F<") == ">cXf<");
  CHECK(feed_all(editor, "\x01\x0b") == "");
}

TEST_CASE("the line editor clears lines and words") {
  LineEditor editor;
  CHECK(feed_all(editor, "hello big  world") == "hello big  world");
  CHECK(feed_all(editor, "\x17") == "hello big  ");
  CHECK(feed_all(editor, "\x17") == "hello ");
  CHECK(feed_all(editor, "\x15") == "");
}

TEST_CASE("the line editor keeps controls and broken characters out of the line") {
  LineEditor editor;
  CHECK(feed_all(editor, "a\x07\xc2\x9b\xff\xc3(b\x1b[31mc\x1bxd") == "a(bcxd");
}

TEST_CASE("Enter submits, Ctrl-D on an empty line quits and Ctrl-C interrupts") {
  LineEditor editor;
  feed_all(editor, "hi");
  CHECK(editor.feed('\x04') == EditResult::none);  // nothing after the cursor
  CHECK(editor.feed('\r') == EditResult::submit);
  CHECK(editor.take_line() == "hi");
  CHECK(editor.text().empty());
  CHECK(editor.feed('\x04') == EditResult::quit);
  CHECK(editor.feed('\x03') == EditResult::interrupt);
}

TEST_CASE("a sender's colour depends on the name alone") {
  CHECK(sender_color("alice") == sender_color("alice"));
  bool any_differs = false;
  for (const char* name : {"bob", "carol", "dave", "erin", "frank"}) {
    any_differs = any_differs || sender_color(name) != sender_color("alice");
  }
  CHECK(any_differs);
}

TEST_CASE("an incoming message scrolls above what the user is typing") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  terminal.set_room("lobby");
  terminal.feed("hel");
  terminal.on_message(message("lobby", "bob", "hi there"));

  const Screen screen = replay(out);
  const auto rows = screen.rows();
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].ends_with(" #lobby bob: hi there"));
  CHECK(rows[1] == "connecting \u00b7 #lobby \u00b7 relay:1");
  CHECK(rows[2] == "> hel");
  CHECK(screen.row() == 2);
  CHECK(screen.column() == 5);
}

TEST_CASE("the cursor stays where the user left it inside the line") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  terminal.feed("helo\x1b[D");
  terminal.on_message(message("lobby", "bob", "x"));
  terminal.feed("l");
  const Screen screen = replay(out);
  CHECK(screen.rows().back() == "> hello");
  CHECK(screen.column() == 6);
}

TEST_CASE("messages from many threads never garble the input line") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  constexpr int kThreads = 4;
  constexpr int kMessagesPerThread = 50;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&terminal, t] {
      for (int i = 0; i < kMessagesPerThread; ++i) {
        terminal.on_message(message("lobby", "bot" + std::to_string(t), "m" + std::to_string(i)));
      }
    });
  }
  for (const char key : std::string("typing while busy")) {
    terminal.feed(std::string(1, key));
  }
  for (auto& sender : senders) {
    sender.join();
  }

  const auto rows = replay(out).rows();
  REQUIRE(rows.size() == kThreads * kMessagesPerThread + 2);
  for (std::size_t i = 0; i + 2 < rows.size(); ++i) {
    CAPTURE(rows[i]);
    CHECK(rows[i].find(" #lobby bot") == 8);
  }
  CHECK(rows.back() == "> typing while busy");
}

TEST_CASE("untrusted text cannot send escape sequences to the terminal") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  terminal.on_message(message("lobby", "eve\x1b[8m", "\x1b]0;title\x07\x1b[2J\u202eboo"));
  terminal.print_info("line one\nline\x1b[Htwo");
  const auto rows = replay(out).rows();
  REQUIRE(rows.size() == 5);
  CHECK(rows[0].ends_with("eve^[[8m: ^[]0;title^G^[[2J\\u202eboo"));
  CHECK(rows[1] == "-- line one");
  CHECK(rows[2] == "-- line^[[Htwo");
}

TEST_CASE("own messages are pending in the status line until acknowledged") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  std::vector<std::string> submitted;
  terminal.on_line([&submitted](std::string line) { submitted.push_back(std::move(line)); });
  terminal.feed("hello\r\r");
  REQUIRE(submitted == std::vector<std::string>{"hello"});
  terminal.note_publish("hello");
  terminal.note_publish("again");
  CHECK(replay(out).rows().end()[-2] == "connecting \u00b7 (sending 2) hello \u00b7 relay:1");

  terminal.on_ack(v1::PublishAck{});
  terminal.on_message(message("lobby", "me", "hello"));
  auto rows = replay(out).rows();
  CHECK(rows.end()[-3].ends_with("me: hello \u2713"));
  CHECK(rows.end()[-2] == "connecting \u00b7 (sending) again \u00b7 relay:1");

  terminal.on_ack(v1::PublishAck{});
  CHECK(replay(out).rows().end()[-2] == "connecting \u00b7 relay:1");
}

TEST_CASE("the status line follows the connection") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  terminal.set_room("lobby");
  ConnectionStatus status;
  status.state = ConnectionState::connected;
  terminal.on_status(status);
  status.state = ConnectionState::reconnecting;
  status.attempt = 3;
  status.retry_in = std::chrono::milliseconds(2300);
  status.last_error = "Socket closed";
  terminal.on_status(status);
  auto rows = replay(out).rows();
  CHECK(rows.end()[-3] == "!! connection lost: Socket closed");
  CHECK(rows.end()[-2] == "reconnecting in 2.3 s, attempt 3 \u00b7 #lobby \u00b7 relay:1");

  status = ConnectionStatus{};
  status.state = ConnectionState::connected;
  terminal.on_status(status);
  v1::Joined joined;
  joined.set_room("lobby");
  joined.set_replayed(12);
  terminal.on_joined(joined, true);
  rows = replay(out).rows();
  CHECK(rows.end()[-3] == "-- rejoined #lobby, 12 replayed");
  CHECK(rows.end()[-2] == "connected \u00b7 #lobby \u00b7 resumed, 12 replayed \u00b7 relay:1");
}

TEST_CASE("the reconnect countdown runs down in the status line, then says the attempt") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  ConnectionStatus status;
  status.state = ConnectionState::reconnecting;
  status.attempt = 3;
  status.retry_in = std::chrono::milliseconds(150);
  terminal.on_status(status);
  CHECK(replay(out).rows().end()[-2].starts_with("reconnecting in 0."));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  terminal.tick();
  CHECK(replay(out).rows().end()[-2] == "reconnecting, attempt 3 \u00b7 relay:1");

  // The attempt itself, under way, is still a reconnect, not a first connection.
  status.state = ConnectionState::connecting;
  status.retry_in = {};
  terminal.on_status(status);
  CHECK(replay(out).rows().end()[-2] == "reconnecting, attempt 3 \u00b7 relay:1");
}

TEST_CASE("at 40 columns the status line keeps the countdown and the unsent lines") {
  std::ostringstream out;
  Terminal terminal(plain_options(40), out);
  terminal.set_room("lobby");
  terminal.note_publish("hello");
  terminal.note_publish("again");
  ConnectionStatus status;
  status.state = ConnectionState::reconnecting;
  status.attempt = 3;
  status.retry_in = std::chrono::seconds(20);
  terminal.on_status(status);
  const std::string line = replay(out, 40).rows().end()[-2];
  CHECK(line.starts_with("retry in "));
  CHECK(line.ends_with(" s \u00b7 (sending 2) \u00b7 #lobby"));
}

TEST_CASE("the status line names the relay serving the stream") {
  std::ostringstream out;
  TerminalOptions options = plain_options();
  options.target = "ipv4:127.0.0.1:50051,127.0.0.1:50052";
  Terminal terminal(options, out);
  terminal.resize(60);
  CHECK(replay(out).rows().end()[-2] == "connecting \u00b7 127.0.0.1:50051 +1");
  ConnectionStatus status;
  status.state = ConnectionState::connected;
  status.relay = "ipv4:127.0.0.1:50052";
  terminal.on_status(status);
  CHECK(replay(out).rows().end()[-2] == "connected \u00b7 127.0.0.1:50052");
}

TEST_CASE("the status line says what a reconnect found, then clears it") {
  std::ostringstream out;
  TerminalOptions options = plain_options();
  options.event_shown_for = std::chrono::milliseconds(100);
  Terminal terminal(options, out);
  terminal.set_room("lobby");
  ConnectionStatus status;
  status.state = ConnectionState::connected;
  terminal.on_status(status);
  v1::Joined joined;
  joined.set_room("lobby");
  joined.set_epoch_changed(true);
  terminal.on_joined(joined, true);
  CHECK(replay(out).rows().end()[-2] ==
        "connected \u00b7 #lobby \u00b7 numbering restarted \u00b7 relay:1");

  SUBCASE("after a while") {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    terminal.tick();
  }
  SUBCASE("when the connection changes") {
    status.state = ConnectionState::reconnecting;
    terminal.on_status(status);
    status.state = ConnectionState::connected;
    terminal.on_status(status);
  }
  CHECK(replay(out).rows().end()[-2] == "connected \u00b7 #lobby \u00b7 relay:1");
}

TEST_CASE("quitting with lines not yet delivered warns, and asking again drops them") {
  std::ostringstream out;
  Terminal terminal(plain_options(80), out);
  terminal.note_publish("hello");
  terminal.note_publish("again");
  terminal.ask_to_quit();
  CHECK(replay(out, 80).rows().end()[-3] ==
        "!! 2 lines not yet delivered: /quit again to drop them, or wait");
  CHECK_FALSE(terminal.wait_for_quit(std::chrono::milliseconds(50)));

  SUBCASE("/quit again") { terminal.ask_to_quit(); }
  SUBCASE("Ctrl-D on an empty line") { terminal.feed("\x04"); }
  SUBCASE("waiting until they are delivered") {
    terminal.on_ack(v1::PublishAck{});
    CHECK_FALSE(terminal.wait_for_quit(std::chrono::milliseconds(50)));
    terminal.on_ack(v1::PublishAck{});
  }
  CHECK(terminal.wait_for_quit(std::chrono::milliseconds(0)));
}

TEST_CASE("a line typed after the warning cancels the quit, and Ctrl-C quits at once") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  terminal.note_publish("hello");
  terminal.feed("\x04");
  terminal.note_publish("changed my mind");
  terminal.on_ack(v1::PublishAck{});
  terminal.on_ack(v1::PublishAck{});
  CHECK_FALSE(terminal.wait_for_quit(std::chrono::milliseconds(50)));

  terminal.note_publish("one more");
  terminal.feed("\x03");
  CHECK(terminal.wait_for_quit(std::chrono::milliseconds(0)));
}

TEST_CASE("with nothing pending, /quit quits at once") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  terminal.ask_to_quit();
  CHECK(terminal.wait_for_quit(std::chrono::milliseconds(0)));
}

TEST_CASE("a line longer than the screen scrolls sideways to keep the cursor in view") {
  constexpr std::size_t kColumns = 20;
  std::ostringstream out;
  Terminal terminal(plain_options(kColumns), out);
  terminal.feed("abcdefghijklmnopqrstuvwxyz");
  terminal.on_message(message("lobby", "bob", "x"));
  const Screen screen = replay(out, kColumns);
  CHECK(screen.rows().back() == "> jklmnopqrstuvwxyz");
  CHECK(screen.column() == kColumns - 1);
  CHECK(screen.rows().end()[-2] == "connecting");
}

TEST_CASE("on a real terminal: raw mode, typed lines, quitting and restoring the mode") {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  REQUIRE(slave >= 0);
  termios before{};
  REQUIRE(::tcgetattr(slave, &before) == 0);
  REQUIRE((before.c_lflag & ICANON) != 0);

  std::ostringstream out;
  {
    Terminal terminal(plain_options(), out);
    std::promise<std::string> line;
    terminal.on_line([&line](std::string text) { line.set_value(std::move(text)); });
    terminal.start(slave, slave);
    termios during{};
    REQUIRE(::tcgetattr(slave, &during) == 0);
    CHECK((during.c_lflag & (ICANON | ECHO | ISIG)) == 0);

    REQUIRE(::write(master, "hi\r", 3) == 3);
    auto typed = line.get_future();
    REQUIRE(typed.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(typed.get() == "hi");

    REQUIRE(::write(master, "\x04", 1) == 1);
    auto quit = std::async(std::launch::async, [&terminal] { terminal.wait_for_quit(); });
    REQUIRE(quit.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    terminal.stop();
  }
  termios after{};
  REQUIRE(::tcgetattr(slave, &after) == 0);
  CHECK(after.c_lflag == before.c_lflag);
  CHECK(after.c_iflag == before.c_iflag);
  ::close(slave);
  ::close(master);
}

TEST_CASE("after the window narrows, the rows the old lines wrapped into are erased too") {
  std::ostringstream out;
  Terminal terminal(plain_options(80), out);
  terminal.set_room("lobby");           // status: "relay:1 · #lobby · connecting", 29 columns
  terminal.feed(std::string(50, 'x'));  // the cursor in column 52
  out.str("");
  // Reflowed at 20 columns: the status line takes 2 rows and the cursor is on
  // the third row of the input line.
  terminal.resize(20);
  CHECK(out.str().starts_with("\r\x1b[4A\x1b[J"));
  out.str("");
  terminal.print_info("x");
  CHECK(out.str().starts_with("\r\x1b[A\x1b[J"));
}

TEST_CASE("a first connection that fails is told as such, not as a connection lost") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  ConnectionStatus status;
  status.state = ConnectionState::connecting;
  terminal.on_status(status);
  status.state = ConnectionState::reconnecting;
  status.attempt = 1;
  status.last_error = "Connection refused";
  terminal.on_status(status);
  status = ConnectionStatus{};
  status.state = ConnectionState::connected;
  terminal.on_status(status);
  const auto rows = replay(out).rows();
  CHECK(std::count(rows.begin(), rows.end(), "!! cannot connect: Connection refused") == 1);
  CHECK(std::count(rows.begin(), rows.end(), "-- connected") == 1);
  CHECK(std::none_of(rows.begin(), rows.end(), [](const std::string& row) {
    return row.find("connection lost") != std::string::npos ||
           row.find("connected again") != std::string::npos;
  }));
}

TEST_CASE("an outage is told once, not at every failed attempt, and its end once") {
  std::ostringstream out;
  Terminal terminal(plain_options(), out);
  ConnectionStatus status;
  status.state = ConnectionState::connected;
  terminal.on_status(status);
  for (int attempt = 1; attempt <= 5; ++attempt) {
    status.state = ConnectionState::reconnecting;
    status.attempt = attempt;
    status.last_error = "Connection refused";
    terminal.on_status(status);
    status.state = ConnectionState::connecting;
    terminal.on_status(status);
  }
  status = ConnectionStatus{};
  status.state = ConnectionState::connected;
  terminal.on_status(status);
  const auto rows = replay(out).rows();
  const auto count = [&rows](const std::string& text) {
    return std::count_if(rows.begin(), rows.end(), [&](const std::string& row) {
      return row.find(text) != std::string::npos;
    });
  };
  CHECK(count("connection lost") == 1);
  CHECK(count("connected again") == 1);
}
