#include "tests/integration/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace relay::testing {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> args, const std::string& input) {
  std::random_device random;
  directory_ = std::filesystem::temp_directory_path() /
               ("relay-child-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  std::filesystem::create_directories(directory_);
  const auto in_path = directory_ / "in";
  std::ofstream(in_path) << input;
  const auto out_path = directory_ / "out";
  const auto err_path = directory_ / "err";

  pid_ = ::fork();
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    ::dup2(::open(in_path.c_str(), O_RDONLY), STDIN_FILENO);
    ::dup2(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDOUT_FILENO);
    ::dup2(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void ChildProcess::signal(int signal_number) const { ::kill(pid_, signal_number); }

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      if (WIFSIGNALED(status)) {
        // Said here, as no exit code will: a crash then shows in the test's log.
        std::cerr << "child " << pid_ << " was killed by signal " << WTERMSIG(status) << "\n";
      }
      return WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string ChildProcess::out() const { return read_file(directory_ / "out"); }
std::string ChildProcess::err() const { return read_file(directory_ / "err"); }

bool ChildProcess::wait_for_output(const std::string& text,
                                   std::chrono::milliseconds timeout) const {
  return wait_until([&] { return out().find(text) != std::string::npos; }, timeout);
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

std::vector<std::string> command_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string word; in >> word;) {
    out.push_back(word);
  }
  return out;
}

}  // namespace relay::testing
