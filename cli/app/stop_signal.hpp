#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace relay::cli::app {

// SIGINT and SIGTERM, taken by one thread of ours with sigwait instead of an
// async handler, so that stopping can take locks and join threads. Construct
// it before any other thread starts: the signals are blocked in the
// constructing thread and in every thread started after it.
class StopSignal {
 public:
  // Keeps a handler installed; the destructor removes it, and waits for it if
  // it is running, so that the handler may use objects that outlive it only.
  class Registration {
   public:
    explicit Registration(StopSignal& signals) : signals_(&signals) {}
    ~Registration() { signals_->on_stop(nullptr); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    StopSignal* signals_;
  };

  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Runs `on_stop` on the signal thread at the first SIGINT or SIGTERM, or at
  // once if one has come already.
  [[nodiscard]] Registration stop_with(std::function<void()> on_stop);
  // The signal that came (SIGINT or SIGTERM), or 0.
  int received() const { return received_.load(); }

 private:
  void on_stop(std::function<void()> on_stop);

  std::thread waiter_;
  std::function<void()> on_stop_;  // guarded by the handler mutex
  bool closing_ = false;           // guarded by the handler mutex
  std::atomic<int> received_{0};
};

}  // namespace relay::cli::app
