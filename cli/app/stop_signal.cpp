#include "cli/app/stop_signal.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <mutex>

namespace relay::cli::app {
namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

std::mutex handler_mutex;

}  // namespace

StopSignal::StopSignal() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  waiter_ = std::thread([this, set] {
    int signal = 0;
    sigwait(&set, &signal);
    std::function<void()> handler;
    {
      std::lock_guard lock(handler_mutex);
      handler = on_stop_;
    }
    // The destructor wakes this thread with a SIGTERM of its own after
    // clearing the handler: nothing to run then.
    if (handler) {
      handler();
    }
  });
}

StopSignal::~StopSignal() {
  {
    std::lock_guard lock(handler_mutex);
    on_stop_ = nullptr;
  }
  pthread_kill(waiter_.native_handle(), SIGTERM);
  waiter_.join();
}

void StopSignal::on_stop(std::function<void()> on_stop) {
  std::lock_guard lock(handler_mutex);
  on_stop_ = std::move(on_stop);
}

}  // namespace relay::cli::app
