#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "relay/backplane/backplane.hpp"

namespace relay::testing {

// A backplane that answers the way a broker's will: later, from threads of
// its own, several answers possibly at once. Each publish waits in a queue
// for a random delay of at most max_delay; then a worker publishes it to the
// hub, which numbers and delivers it, and calls `done` on that worker. The
// hub is given the publishes in the order they came, so a room's sequence
// follows that order as a broker's does; only the answers race.
class LateBackplane final : public backplane::Backplane {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::microseconds max_delay{2000};
    unsigned workers = 2;
    std::uint64_t seed = 13;
  };

  LateBackplane(hub::Hub& hub, Options options);
  explicit LateBackplane(hub::Hub& hub) : LateBackplane(hub, Options{}) {}
  // Answers what is still queued, at once and held or not, then stops.
  ~LateBackplane() override;
  LateBackplane(const LateBackplane&) = delete;
  LateBackplane& operator=(const LateBackplane&) = delete;

  void publish(const std::string& room, hub::PublishRequest request,
               const hub::CreateGate& may_create, backplane::PublishDone done) override;

  // Keeps every answer back until release(), so that a test can end a call,
  // or the relay, while answers are outstanding.
  void hold();
  void release();

  // Publishes received, and answers given (their `done` has returned).
  std::uint64_t published() const;
  std::uint64_t answered() const;
  // Wait until at least `count` were received or answered; false on timeout.
  bool wait_published(std::uint64_t count, std::chrono::milliseconds timeout) const;
  bool wait_answered(std::uint64_t count, std::chrono::milliseconds timeout) const;

 private:
  struct Queued {
    std::string room;
    hub::PublishRequest request;
    hub::CreateGate may_create;  // a copy: the caller's is valid during publish only
    backplane::PublishDone done;
    Clock::time_point due;
  };
  void work();

  hub::Hub& hub_;
  const Options options_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<Queued> queue_;     // guarded by mutex_
  std::mt19937_64 random_;       // guarded by mutex_
  bool held_ = false;            // guarded by mutex_
  bool stopping_ = false;        // guarded by mutex_
  std::uint64_t published_ = 0;  // guarded by mutex_
  std::uint64_t answered_ = 0;   // guarded by mutex_
  std::vector<std::thread> workers_;
};

}  // namespace relay::testing
