#include "relay/service/service_context.hpp"

#include <vector>

namespace relay::service {

void StreamRegistry::add(const hub::SubscriberPtr& subscriber) {
  std::optional<hub::CloseReason> closed;
  bool drain = true;
  {
    std::lock_guard lock(mutex_);
    streams_.emplace(subscriber->id(), subscriber);
    closed = closed_;
    drain = drain_;
  }
  if (closed) {
    subscriber->close(*closed, drain);
  }
}

void StreamRegistry::remove(const hub::SubscriberPtr& subscriber) {
  std::lock_guard lock(mutex_);
  streams_.erase(subscriber->id());
  if (streams_.empty()) {
    emptied_.notify_all();
  }
}

bool StreamRegistry::wait_empty(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mutex_);
  return emptied_.wait_until(lock, deadline, [this] { return streams_.empty(); });
}

void StreamRegistry::close_all(const hub::CloseReason& reason, bool drain) {
  std::vector<hub::SubscriberPtr> open;
  {
    std::lock_guard lock(mutex_);
    closed_ = reason;
    drain_ = drain;
    open.reserve(streams_.size());
    for (const auto& [id, subscriber] : streams_) {
      open.push_back(subscriber);
    }
  }
  // Outside the lock: closing may call into gRPC.
  for (const auto& subscriber : open) {
    subscriber->close(reason, drain);
  }
}

std::size_t StreamRegistry::size() const {
  std::lock_guard lock(mutex_);
  return streams_.size();
}

}  // namespace relay::service
