#include "cli/app/stop_signal.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
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
    {
      // Under the lock, so that a Registration that ends meanwhile waits for
      // the handler to finish with what it refers to.
      std::lock_guard lock(handler_mutex);
      // The destructor wakes this thread with a SIGTERM of its own: nothing
      // came then.
      if (closing_) {
        return;
      }
      received_ = signal;
      if (on_stop_) {
        on_stop_();
      }
    }
    // A second signal while the first one's stop is under way: the user
    // insists, so nothing is waited for any more.
    int again = 0;
    sigwait(&set, &again);
    std::lock_guard lock(handler_mutex);
    if (!closing_) {
      std::_Exit(128 + again);
    }
  });
}

StopSignal::~StopSignal() {
  {
    std::lock_guard lock(handler_mutex);
    closing_ = true;
  }
  pthread_kill(waiter_.native_handle(), SIGTERM);
  waiter_.join();
}

StopSignal::Registration StopSignal::stop_with(std::function<void()> on_stop) {
  this->on_stop(std::move(on_stop));
  return Registration(*this);
}

void StopSignal::on_stop(std::function<void()> on_stop) {
  std::lock_guard lock(handler_mutex);
  on_stop_ = std::move(on_stop);
  // A signal that came before there was anything to stop still stops it.
  if (received_ != 0 && on_stop_) {
    on_stop_();
  }
}

}  // namespace relay::cli::app
