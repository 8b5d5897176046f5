#include "tests/integration/relay_process.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace relay::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::filesystem::path unique_port_file() {
  std::random_device random;
  return std::filesystem::temp_directory_path() /
         ("relay-port-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
}

// An environment variable may name another build of the binary, such as one
// from before a fix.
std::string binary_under_test(const char* variable, const char* built) {
  const char* other = std::getenv(variable);
  return other != nullptr && *other != '\0' ? other : built;
}

}  // namespace

std::string relay_server_path() {
  return binary_under_test("RELAY_SERVER_UNDER_TEST", RELAY_SERVER_PATH);
}

std::string relay_chat_path() {
  return binary_under_test("RELAY_CHAT_UNDER_TEST", RELAY_CHAT_PATH);
}

RelayProcess::RelayProcess(std::vector<std::string> extra_args) : port_file_(unique_port_file()) {
  std::vector<std::string> args{relay_server_path(), "--listen", "127.0.0.1:0", "--port-file",
                                port_file_.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<ChildProcess>(std::move(args), "");
  // The port file appears, complete, once the relay listens (it is renamed
  // into place); poll for it with a deadline, and stop early if the relay died.
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file_);
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
  std::error_code ignored;
  std::filesystem::remove(port_file_, ignored);
}

}  // namespace relay::testing
