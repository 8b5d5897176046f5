#include "relay/hub/subscriber.hpp"

#include <utility>

#include <spdlog/spdlog.h>

namespace relay::hub {

Subscriber::Subscriber(std::uint64_t id, std::string user, SubscriberKind kind, QueueLimits limits,
                       FrameSink& sink)
    : id_(id), user_(std::move(user)), kind_(kind), limits_(limits), sink_(sink) {}

bool Subscriber::enqueue(FramePtr frame, bool bypass_limits) {
  std::lock_guard lock(mutex_);
  if (state_ != State::open) {
    return false;
  }
  const std::size_t size = frame->size_bytes();
  if (!bypass_limits &&
      (queue_.size() + 1 > limits_.max_frames || queued_bytes_ + size > limits_.max_bytes)) {
    spdlog::warn("slow consumer: closing stream {} of {} with {} frames ({} bytes) queued", id_,
                 user_, queue_.size(), queued_bytes_);
    queue_.clear();
    queued_bytes_ = 0;
    state_ = State::closing;
    drain_ = false;
    close_reason_ = {CloseCode::resource_exhausted,
                     "slow consumer: the relay's queue for this stream is full; reconnect and "
                     "resume from your last sequence"};
    return true;
  }
  queued_bytes_ += size;
  queue_.push_back(std::move(frame));
  return !write_in_flight_;
}

bool Subscriber::flush() {
  Action action;
  bool closing = false;
  {
    std::lock_guard lock(mutex_);
    action = next_action_locked();
    closing = state_ != State::open;
  }
  run(std::move(action));
  return closing;
}

void Subscriber::add_room(const std::string& room) {
  std::lock_guard lock(mutex_);
  rooms_.push_back(room);
}

void Subscriber::remove_room(const std::string& room) {
  std::lock_guard lock(mutex_);
  std::erase(rooms_, room);
}

std::vector<std::string> Subscriber::rooms() const {
  std::lock_guard lock(mutex_);
  return rooms_;
}

void Subscriber::on_write_done(bool ok) {
  Action action;
  {
    std::lock_guard lock(mutex_);
    write_in_flight_ = false;
    if (!ok && state_ != State::finished) {
      // The peer is gone: nothing more can be written, only finished.
      queue_.clear();
      queued_bytes_ = 0;
      if (state_ == State::open) {
        close_reason_ = {CloseCode::cancelled, "stream broken"};
      }
      state_ = State::closing;
      drain_ = false;
    }
    action = next_action_locked();
  }
  run(std::move(action));
}

void Subscriber::close(CloseReason reason, bool drain) {
  Action action;
  {
    std::lock_guard lock(mutex_);
    if (state_ != State::open) {
      return;
    }
    state_ = State::closing;
    drain_ = drain;
    close_reason_ = std::move(reason);
    if (!drain) {
      queue_.clear();
      queued_bytes_ = 0;
    }
    action = next_action_locked();
  }
  run(std::move(action));
}

bool Subscriber::closing() const {
  std::lock_guard lock(mutex_);
  return state_ != State::open;
}

std::size_t Subscriber::queued_frames() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t Subscriber::queued_bytes() const {
  std::lock_guard lock(mutex_);
  return queued_bytes_;
}

Subscriber::Action Subscriber::next_action_locked() {
  Action action;
  if (state_ == State::finished) {
    return action;
  }
  if (write_in_flight_) {
    if (state_ == State::closing && !drain_ && !told_write_stuck_) {
      told_write_stuck_ = true;
      action.write_stuck = true;
    }
    return action;
  }
  if (!queue_.empty() && (state_ == State::open || drain_)) {
    action.write = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= action.write->size_bytes();
    write_in_flight_ = true;
    return action;
  }
  if (state_ == State::closing) {
    state_ = State::finished;
    action.finish = close_reason_;
  }
  return action;
}

void Subscriber::run(Action action) {
  if (action.write) {
    sink_.start_write(action.write);
  } else if (action.finish) {
    sink_.finish(*action.finish);
  } else if (action.write_stuck) {
    sink_.write_stuck_after_close();
  }
}

}  // namespace relay::hub
