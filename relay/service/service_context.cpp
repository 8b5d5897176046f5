#include "relay/service/service_context.hpp"

#include <chrono>
#include <vector>

#include "relay/service/publish_batch_reactor.hpp"

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
  {
    std::lock_guard lock(mutex_);
    closed_ = reason;
    drain_ = drain;
  }
  // A stream added meanwhile is closed by add() and again here: the first
  // close wins.
  close_open(reason, drain);
}

std::size_t StreamRegistry::close_open(const hub::CloseReason& reason, bool drain) {
  std::vector<hub::SubscriberPtr> open;
  {
    std::lock_guard lock(mutex_);
    open.reserve(streams_.size());
    for (const auto& [id, subscriber] : streams_) {
      open.push_back(subscriber);
    }
  }
  // Outside the lock: closing may call into gRPC.
  std::size_t closed = 0;
  for (const auto& subscriber : open) {
    closed += subscriber->close(reason, drain) ? 1 : 0;
  }
  return closed;
}

std::size_t StreamRegistry::size() const {
  std::lock_guard lock(mutex_);
  return streams_.size();
}

void BatchRegistry::add(PublishBatchReactor* batch) {
  bool drain = false;
  {
    std::lock_guard lock(mutex_);
    batches_.insert(batch);
    drain = draining_;
  }
  if (drain) {
    batch->drain();
  }
}

void BatchRegistry::remove(PublishBatchReactor* batch) {
  std::lock_guard lock(mutex_);
  batches_.erase(batch);
}

std::size_t BatchRegistry::size() const {
  std::lock_guard lock(mutex_);
  return batches_.size();
}

void BatchRegistry::drain_all() {
  // Under the lock, so that no batch can be deleted meanwhile: its OnDone
  // removes it from here first. drain() may call Finish, which never runs
  // OnDone on the calling thread (gRPC completes it through its queue, and a
  // read is pending when drain finishes a call).
  std::lock_guard lock(mutex_);
  draining_ = true;
  for (auto* batch : batches_) {
    batch->drain();
  }
}

void send_answer(hub::Hub& hub, const hub::SubscriberPtr& subscriber, hub::FramePtr frame) {
  if (subscriber->enqueue_answer(std::move(frame)) && subscriber->flush()) {
    hub.remove_from_rooms(subscriber);
  }
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace relay::service
