#include "cli/session/token_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/support/status.h>

extern char** environ;

namespace relay::cli {
namespace {

// More than any JWT a relay accepts (its metadata limit is 8 KiB).
constexpr std::size_t kMaxOutput = 64 * 1024;

std::optional<std::string> first_word(const std::string& text) {
  std::istringstream words(text);
  std::string word;
  if (!(words >> word)) {
    return std::nullopt;
  }
  return word;
}

}  // namespace

std::optional<std::string> read_token_file(const std::string& path) {
  std::ifstream file(path);
  std::string token;
  if (!file || !(file >> token)) {
    return std::nullopt;
  }
  return token;
}

std::optional<std::string> run_token_command(const std::string& command,
                                             std::chrono::milliseconds timeout, std::string& why) {
  std::array<int, 2> pipe_ends{};
  if (::pipe2(pipe_ends.data(), O_CLOEXEC) != 0) {
    why = fmt::format("cannot run --token-command: {}", std::strerror(errno));
    return std::nullopt;
  }
  // The command reads nothing of the chat's input, and gets the signals
  // relay-chat blocks for itself (its own `timeout 5 ...` must work). It
  // leads a process group of its own, all of which a timeout kills.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t signals;
  sigemptyset(&signals);
  posix_spawnattr_setsigmask(&attributes, &signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &signals);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, "/bin/sh", &actions, &attributes,
                                    const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_ends[1]);
  if (spawned != 0) {
    ::close(pipe_ends[0]);
    why = fmt::format("cannot run --token-command: {}", std::strerror(spawned));
    return std::nullopt;
  }
  std::string output;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd readable{pipe_ends[0], POLLIN, 0};
    const int ready = ::poll(&readable, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    std::array<char, 4096> chunk{};
    const ssize_t got = ::read(pipe_ends[0], chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0 || output.size() + static_cast<std::size_t>(got) > kMaxOutput) {
      break;  // end of output, or far more than a token
    }
    output.append(chunk.data(), static_cast<std::size_t>(got));
  }
  ::close(pipe_ends[0]);
  // A command that closed its output may still be running: it gets what is
  // left of the timeout to exit.
  int status = -1;  // a failure unless waitpid says otherwise
  for (;;) {
    if (timed_out) {
      ::kill(-pid, SIGKILL);
    }
    const pid_t done = ::waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) {
      break;
    }
    if (done == 0) {
      timed_out = std::chrono::steady_clock::now() >= deadline;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (timed_out) {
    why = fmt::format("--token-command printed no token within {:g} s",
                      static_cast<double>(timeout.count()) / 1000);
    return std::nullopt;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    why = "--token-command failed (exit status " +
          (WIFEXITED(status) ? std::to_string(WEXITSTATUS(status)) : std::string("signal")) + ")";
    return std::nullopt;
  }
  auto token = first_word(output);
  if (!token) {
    why = "--token-command printed no token";
  }
  return token;
}

v1::ErrorNotice token_refresh_failed(const std::string& why, std::uint32_t ends_in_ms) {
  v1::ErrorNotice notice;
  notice.set_code(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
  notice.set_message(
      fmt::format("cannot refresh the token ({}); the relay ends this stream in {} s unless one "
                  "comes",
                  why, (ends_in_ms + 999) / 1000));
  return notice;
}

bool token_ran_out(const grpc::Status& status, bool was_up, const TokenSource& source) {
  return was_up && status.error_code() == grpc::StatusCode::UNAUTHENTICATED && !source.empty();
}

std::optional<std::string> fetch_token(const TokenSource& source, std::string& why) {
  if (!source.command.empty()) {
    return run_token_command(source.command, kTokenCommandTimeout, why);
  }
  auto token = read_token_file(source.file);
  if (!token) {
    why = "--token-file " + source.file + ": no token there";
  }
  return token;
}

}  // namespace relay::cli
