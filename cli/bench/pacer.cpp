#include "cli/bench/pacer.hpp"

namespace relay::cli::bench {

Pacer::Pacer(std::chrono::nanoseconds interval, std::function<void()> tick)
    : interval_(interval), tick_(std::move(tick)) {}

Pacer::~Pacer() { stop(); }

void Pacer::start() {
  std::lock_guard lock(mutex_);
  if (!stopping_ && !thread_.joinable()) {
    thread_ = std::thread([this] { run(); });
  }
}

void Pacer::stop() {
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

void Pacer::run() {
  std::unique_lock lock(mutex_);
  auto next = std::chrono::steady_clock::now();
  while (!changed_.wait_until(lock, next, [this] { return stopping_; })) {
    next += interval_;
    lock.unlock();
    tick_();
    lock.lock();
  }
}

}  // namespace relay::cli::bench
