#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace relay::hub {

class Subscriber;

// Runs the flushes that lingering streams put off (see WriteBatching::linger)
// when they fall due, on a thread of its own that is started by the first
// one and sleeps while none is pending. Flushes due within a millisecond of
// each other run in one wake-up, so the later ones up to that much early.
class FlushTimer {
 public:
  using Clock = std::chrono::steady_clock;

  FlushTimer() = default;
  ~FlushTimer();
  FlushTimer(const FlushTimer&) = delete;
  FlushTimer& operator=(const FlushTimer&) = delete;

  // The subscriber's flush_due() runs about at `at` (see above), unless the
  // subscriber is gone by then.
  void schedule(std::weak_ptr<Subscriber> subscriber, Clock::time_point at);

 private:
  struct Entry {
    Clock::time_point at;
    std::weak_ptr<Subscriber> subscriber;
    bool operator>(const Entry& other) const { return at > other.at; }
  };
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> pending_;  // guarded by mutex_
  bool stopping_ = false;                                                   // guarded by mutex_
  std::thread thread_;                                                      // guarded by mutex_
};

}  // namespace relay::hub
