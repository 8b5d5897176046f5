#pragma once

#include <functional>
#include <thread>

namespace relay::cli::app {

// SIGINT and SIGTERM, taken by one thread of ours with sigwait instead of an
// async handler, so that stopping can take locks and join threads. Construct
// it before any other thread starts: the signals are blocked in the
// constructing thread and in every thread started after it.
class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Runs `on_stop` on the signal thread at the first SIGINT or SIGTERM.
  void on_stop(std::function<void()> on_stop);

 private:
  std::thread waiter_;
  std::function<void()> on_stop_;
};

}  // namespace relay::cli::app
