// The relay-server process as a supervisor sees it: it starts only where it
// can serve alone, and where nobody can speak as anyone unless told so, and a
// signal at any moment after it started drains it.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/integration/child_process.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// What a writer puts into the FIFO at `path` within `timeout`. Opened without
// blocking, so that a writer that never comes (a relay that died) costs the
// timeout, not the test.
std::string read_fifo(const std::string& path, std::chrono::milliseconds timeout) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 50) <= 0) {
      continue;
    }
    char buffer[64];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 && !text.empty()) {
      break;  // the writer closed after writing
    } else if (n == 0) {
      std::this_thread::sleep_for(10ms);  // no writer yet: POLLHUP until one opens
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

TEST_CASE("a second relay on a port in use refuses to start, naming the port") {
  RelayProcess first;
  ChatClient ann(first.target(), "ann");
  join_and_wait(ann, "lobby");
  const std::string address = first.target();
  ChildProcess second({relay_server_path(), "--listen", address}, "");
  const auto exit_code = second.wait_exit(20s);
  REQUIRE_MESSAGE(exit_code, "the second relay is still running:\n", second.err());
  CHECK(*exit_code == 2);
  CHECK_MESSAGE(contains(second.err(), address), second.err());
  CHECK_MESSAGE(contains(second.err(), "in use"), second.err());
  // The first relay still has every client.
  CHECK(publish_acked(ann, "lobby", "still here", "ann-1").sequence() == 1);
}

TEST_CASE("a SIGTERM while the relay announces its port drains and exits 0") {
  // The port file's temporary name is a FIFO, so the relay blocks in the
  // middle of announcing its port until the test reads it: the signal lands
  // exactly there, every time.
  const auto directory =
      std::filesystem::temp_directory_path() / ("relay-fifo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto port_file = directory / "port";
  REQUIRE(::mkfifo((port_file.string() + ".tmp").c_str(), 0600) == 0);
  ChildProcess relay(
      {relay_server_path(), "--listen", "127.0.0.1:0", "--port-file", port_file.string()}, "");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!contains(relay.err(), "listening") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE_MESSAGE(contains(relay.err(), "listening"), relay.err());
  relay.signal(SIGTERM);
  const std::string port = read_fifo(port_file.string() + ".tmp", 10s);
  const auto exit_code = relay.wait_exit(10s);
  std::filesystem::remove_all(directory);
  CHECK_FALSE(port.empty());
  REQUIRE_MESSAGE(exit_code, "the relay died of the signal:\n", relay.err());
  CHECK(*exit_code == 0);
}

TEST_CASE("without tokens the relay listens beyond loopback only with --allow-anonymous") {
  ChildProcess refused({relay_server_path(), "--listen", "0.0.0.0:0"}, "");
  const auto refused_exit = refused.wait_exit(20s);
  REQUIRE_MESSAGE(refused_exit, "the relay started anyway:\n", refused.err());
  CHECK(*refused_exit == 2);
  CHECK_MESSAGE(contains(refused.err(), "refusing to listen on 0.0.0.0:0 without tokens"),
                refused.err());
  CHECK_MESSAGE(contains(refused.err(), "--allow-anonymous"), refused.err());

  const auto port_file = std::filesystem::temp_directory_path() /
                         ("relay-anonymous-port-" + std::to_string(::getpid()));
  ChildProcess allowed({relay_server_path(), "--listen", "0.0.0.0:0", "--allow-anonymous",
                        "--port-file", port_file.string()},
                       "");
  wait_until([&] { return std::filesystem::exists(port_file) || allowed.wait_exit(0ms); }, 20s);
  const bool announced = std::filesystem::exists(port_file);
  std::filesystem::remove(port_file);
  REQUIRE_MESSAGE(announced, allowed.err());
  CHECK_MESSAGE(contains(allowed.err(), "relay listening on 0.0.0.0:0"), allowed.err());
  allowed.signal(SIGTERM);
  CHECK(allowed.wait_exit(10s) == 0);
}
