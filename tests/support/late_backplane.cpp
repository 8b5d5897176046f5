#include "tests/support/late_backplane.hpp"

#include <utility>

namespace relay::testing {

LateBackplane::LateBackplane(hub::Hub& hub, Options options)
    : hub_(hub), options_(options), random_(options.seed) {
  for (unsigned i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] { work(); });
  }
}

LateBackplane::~LateBackplane() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& worker : workers_) {
    worker.join();
  }
}

void LateBackplane::publish(const std::string& room, hub::PublishRequest request,
                            const hub::CreateGate& may_create, backplane::PublishDone done) {
  {
    std::lock_guard lock(mutex_);
    std::uniform_int_distribution<std::int64_t> delay_us(0, options_.max_delay.count());
    queue_.push_back({room, std::move(request), may_create, std::move(done),
                      Clock::now() + std::chrono::microseconds(delay_us(random_))});
    ++published_;
  }
  changed_.notify_all();
}

void LateBackplane::work() {
  std::unique_lock lock(mutex_);
  while (!(stopping_ && queue_.empty())) {
    if (queue_.empty() || (held_ && !stopping_)) {
      changed_.wait(lock);
      continue;
    }
    if (const auto due = queue_.front().due; !stopping_ && Clock::now() < due) {
      changed_.wait_until(lock, due);
      continue;
    }
    Queued next = std::move(queue_.front());
    queue_.pop_front();
    // Under the lock, so that the hub numbers the publishes in queue order.
    const hub::PublishResult result =
        hub_.publish(next.room, std::move(next.request), next.may_create);
    lock.unlock();
    next.done(result);
    lock.lock();
    ++answered_;
    changed_.notify_all();
  }
}

void LateBackplane::hold() {
  std::lock_guard lock(mutex_);
  held_ = true;
}

void LateBackplane::release() {
  {
    std::lock_guard lock(mutex_);
    held_ = false;
  }
  changed_.notify_all();
}

std::uint64_t LateBackplane::published() const {
  std::lock_guard lock(mutex_);
  return published_;
}

std::uint64_t LateBackplane::answered() const {
  std::lock_guard lock(mutex_);
  return answered_;
}

bool LateBackplane::wait_published(std::uint64_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return published_ >= count; });
}

bool LateBackplane::wait_answered(std::uint64_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return answered_ >= count; });
}

}  // namespace relay::testing
