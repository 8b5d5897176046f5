#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/support/status_code_enum.h>

namespace relay::service {

// Refusals since the start by the status code they carry, for the metrics.
// Relay-wide atomics: a refusal is rare next to a delivery and is logged
// anyway, so it adds nothing to the delivery path.
class RefusalCounts {
 public:
  void count(grpc::StatusCode code);
  // Every code with its count, named as in the code's enum, in lower case.
  std::vector<std::pair<std::string, std::uint64_t>> read() const;

 private:
  static constexpr std::size_t kCodes = grpc::StatusCode::UNAUTHENTICATED + 1;
  std::array<std::atomic<std::uint64_t>, kCodes> counts_{};
};

// Log lines about refusals, summarised so that a client sending bad input as
// fast as it can cannot fill the disk: the first refusal is logged at once,
// later ones at most once per interval as a count with the latest reason, and
// whatever is left unlogged when the owner goes (a stream that ends) in one
// last line. Each owner names itself in every line ("chat stream 7 of ann").
class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kInterval = std::chrono::seconds(10);

  RefusalLog(std::string owner, RefusalCounts& counts)
      : owner_(std::move(owner)), counts_(counts) {}
  ~RefusalLog() { flush(); }
  RefusalLog(const RefusalLog&) = delete;
  RefusalLog& operator=(const RefusalLog&) = delete;

  void refused(grpc::StatusCode code, const std::string& reason,
               Clock::time_point now = Clock::now());
  // Logs the refusals not yet logged, if any.
  void flush();

 private:
  void log_locked(std::uint64_t count, const std::string& reason);

  const std::string owner_;
  RefusalCounts& counts_;
  mutable std::mutex mutex_;
  std::uint64_t unlogged_ = 0;       // guarded by mutex_
  std::string latest_reason_;        // guarded by mutex_
  Clock::time_point last_logged_{};  // guarded by mutex_
  bool logged_any_ = false;          // guarded by mutex_
};

}  // namespace relay::service
