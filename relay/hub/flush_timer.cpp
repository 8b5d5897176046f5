#include "relay/hub/flush_timer.hpp"

#include "relay/hub/subscriber.hpp"

namespace relay::hub {
namespace {
// Flushes due this soon after the first are run with it: one wake-up serves
// the many streams of a fan-out that lingered at nearly the same moment.
constexpr auto kSlack = std::chrono::microseconds(100);
}  // namespace

FlushTimer::~FlushTimer() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  changed_.notify_all();
  if (thread.joinable()) {
    thread.join();
  }
}

void FlushTimer::schedule(std::weak_ptr<Subscriber> subscriber, Clock::time_point at) {
  bool earliest = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { run(); });
    }
    earliest = pending_.empty() || at < pending_.top().at;
    pending_.push({at, std::move(subscriber)});
  }
  if (earliest) {
    changed_.notify_one();
  }
}

void FlushTimer::run() {
  std::vector<std::weak_ptr<Subscriber>> due;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (pending_.empty()) {
      changed_.wait(lock);
      continue;
    }
    // A copy: while this thread waits, schedule() may push and so move the
    // queue's entries.
    const Clock::time_point next = pending_.top().at;
    if (Clock::now() < next) {
      changed_.wait_until(lock, next);
      continue;
    }
    const auto until = Clock::now() + kSlack;
    while (!pending_.empty() && pending_.top().at <= until) {
      due.push_back(pending_.top().subscriber);
      pending_.pop();
    }
    lock.unlock();
    for (const auto& weak : due) {
      if (const auto subscriber = weak.lock()) {
        subscriber->flush_due();
      }
    }
    due.clear();
    lock.lock();
  }
}

}  // namespace relay::hub
