#include "tests/integration/relay_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace relay::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::filesystem::path make_directory() {
  std::random_device random;
  auto path = std::filesystem::temp_directory_path() /
              ("relay-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  std::filesystem::create_directories(path);
  return path;
}

}  // namespace

RelayProcess::RelayProcess(std::vector<std::string> extra_args) : directory_(make_directory()) {
  const auto port_file = directory_ / "port";
  const auto log_file = directory_ / "relay.log";
  std::vector<std::string> args{RELAY_SERVER_PATH, "--listen", "127.0.0.1:0", "--port-file",
                                port_file.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());

  pid_ = ::fork();
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, STDERR_FILENO);
    ::dup2(log, STDOUT_FILENO);
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // The port file appears, complete, once the relay listens (it is renamed
  // into place); poll for it with a deadline, and stop early if the relay died.
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    if (in >> port_ && port_ > 0) {
      return;
    }
    if (wait_exit(std::chrono::milliseconds(0))) {
      throw std::runtime_error("relay-server exited at start:\n" + log());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  throw std::runtime_error("relay-server did not start within 20 s:\n" + log());
}

RelayProcess::~RelayProcess() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void RelayProcess::signal(int signal_number) const { ::kill(pid_, signal_number); }

std::optional<int> RelayProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string RelayProcess::log() const {
  std::ifstream in(directory_ / "relay.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace relay::testing
