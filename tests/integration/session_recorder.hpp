#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "cli/session/chat_session.hpp"

namespace relay::testing {

// A SessionListener that keeps everything the session showed, so a test can
// wait for a count and then check order, loss and duplicates.
class SessionRecorder : public cli::SessionListener {
 public:
  void on_message(const v1::Message& message) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    changed_.notify_all();
  }
  void on_joined(const v1::Joined& joined, bool resumed) override {
    std::lock_guard lock(mutex_);
    joins_.push_back(joined);
    resumed_joins_ += resumed ? 1 : 0;
    changed_.notify_all();
  }
  void on_presence(const v1::Presence&) override {}
  void on_ack(const v1::PublishAck&) override {}
  void on_error(const v1::ErrorNotice& error) override {
    std::lock_guard lock(mutex_);
    errors_.push_back(error);
  }
  void on_status(const cli::ConnectionStatus& status) override {
    std::lock_guard lock(mutex_);
    statuses_.push_back(status);
    changed_.notify_all();
  }

  bool wait_messages(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
  }
  // Waits for the session's n-th join answer (counting from 1).
  bool wait_joins(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return joins_.size() >= count; });
  }
  std::vector<v1::Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<v1::Joined> joins() const {
    std::lock_guard lock(mutex_);
    return joins_;
  }
  std::vector<v1::ErrorNotice> errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }
  std::size_t reconnects() const {
    std::lock_guard lock(mutex_);
    std::size_t count = 0;
    for (const auto& status : statuses_) {
      count += status.state == cli::ConnectionState::reconnecting ? 1 : 0;
    }
    return count;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<v1::Message> messages_;
  std::vector<v1::Joined> joins_;
  std::vector<v1::ErrorNotice> errors_;
  std::vector<cli::ConnectionStatus> statuses_;
  std::size_t resumed_joins_ = 0;
};

}  // namespace relay::testing
