#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace relay::cli::bench {

// A thread that calls `tick` once per interval from start() until stop(), for
// publishers with a rate. A tick that fell behind (the machine was busy) is
// made up at once, so that the rate holds over the run.
class Pacer {
 public:
  Pacer(std::chrono::nanoseconds interval, std::function<void()> tick);
  ~Pacer();
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  // Once; nothing after stop().
  void start();
  // Returns once no tick runs or will run. Not from `tick`.
  void stop();

 private:
  void run();

  const std::chrono::nanoseconds interval_;
  const std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;     // guarded by mutex_; stop() joins it outside
};

}  // namespace relay::cli::bench
