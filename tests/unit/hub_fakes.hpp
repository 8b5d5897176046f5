#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "relay/hub/frame.hpp"
#include "relay/hub/hub.hpp"
#include "relay/hub/subscriber.hpp"

namespace relay::hub::testing {

// A frame that is just readable text, so tests compare what a subscriber got.
class TextFrame : public Frame {
 public:
  explicit TextFrame(std::string text) : text_(std::move(text)) {}
  std::size_t size_bytes() const override { return text_.size(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

inline const std::string& text_of(const FramePtr& frame) {
  return static_cast<const TextFrame&>(*frame).text();
}

// Encodes "msg ROOM#SEQ SENDER BODY", "joined ROOM epoch_changed=.. replayed=.. missed=..",
// "presence ROOM USER joined|left", and counts the messages and presence
// changes it encoded.
class TextEncoder : public FrameEncoder {
 public:
  FramePtr encode_message(const Message& m) override {
    messages_encoded.fetch_add(1);
    last_server_time_us.store(m.server_time_us);
    return std::make_shared<TextFrame>("msg " + m.room + "#" + std::to_string(m.sequence) + " " +
                                       m.sender + " " + m.body);
  }
  FramePtr encode_joined(const JoinSummary& s) override {
    return std::make_shared<TextFrame>("joined " + s.room + " seq=" + std::to_string(s.sequence) +
                                       " replayed=" + std::to_string(s.replayed) +
                                       " missed=" + std::to_string(s.missed) +
                                       " epoch_changed=" + (s.epoch_changed ? "1" : "0"));
  }
  FramePtr encode_presence(const std::string& room, const std::string& user,
                           PresenceKind kind) override {
    presences_encoded.fetch_add(1);
    return std::make_shared<TextFrame>("presence " + room + " " + user +
                                       (kind == PresenceKind::joined ? " joined" : " left"));
  }
  std::atomic<int> messages_encoded{0};
  // The frames leave the time out; the last message's is kept here.
  std::atomic<std::int64_t> last_server_time_us{0};
  std::atomic<int> presences_encoded{0};
};

// A sink whose writes complete only when the test says so, like a network
// that is as slow as the test wants. Thread-safe, so the stress test can
// complete writes from its own threads.
class ManualSink : public FrameSink {
 public:
  void bind(Subscriber* subscriber) { subscriber_ = subscriber; }

  void start_write(std::span<const FramePtr> frames, bool more_follows) override {
    std::lock_guard lock(mutex_);
    in_flight_.assign(frames.begin(), frames.end());
    write_sizes_.push_back(frames.size());
    more_follows_.push_back(more_follows);
  }
  void finish(const CloseReason& reason) override {
    std::lock_guard lock(mutex_);
    finishes_.push_back(reason);
  }
  void write_stuck_after_close(bool draining) override {
    std::lock_guard lock(mutex_);
    stuck_notices_.push_back(draining);
  }
  int stuck_notices() const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(stuck_notices_.size());
  }
  // Whether each notice was for a draining close.
  std::vector<bool> stuck_notice_drains() const {
    std::lock_guard lock(mutex_);
    return stuck_notices_;
  }

  // Completes the write in flight, if any; returns whether there was one.
  bool complete_one(bool ok = true) {
    {
      std::lock_guard lock(mutex_);
      if (in_flight_.empty()) {
        return false;
      }
      if (ok) {
        for (const auto& frame : in_flight_) {
          written_.push_back(text_of(frame));
        }
      }
      in_flight_.clear();
    }
    subscriber_->on_write_done(ok);
    return true;
  }
  // Completes writes until none is in flight; bounded so a bug cannot hang.
  void complete_all(int max_writes = 1000000) {
    for (int i = 0; i < max_writes && complete_one(); ++i) {
    }
  }

  // Completes writes until the stream is finished, also those that other
  // threads start meanwhile; false if it does not finish within `timeout`.
  bool complete_until_finished(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!complete_one()) {
        if (!finishes().empty()) {
          return true;
        }
        std::this_thread::yield();
      }
    }
    return false;
  }

  std::vector<std::string> written() const {
    std::lock_guard lock(mutex_);
    return written_;
  }
  std::vector<CloseReason> finishes() const {
    std::lock_guard lock(mutex_);
    return finishes_;
  }
  bool write_in_flight() const {
    std::lock_guard lock(mutex_);
    return !in_flight_.empty();
  }
  // How many frames each write started so far carried.
  std::vector<std::size_t> write_sizes() const {
    std::lock_guard lock(mutex_);
    return write_sizes_;
  }
  // Whether each write started so far said more follows.
  std::vector<bool> more_follows() const {
    std::lock_guard lock(mutex_);
    return more_follows_;
  }

 private:
  Subscriber* subscriber_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<FramePtr> in_flight_;
  std::vector<std::size_t> write_sizes_;
  std::vector<bool> more_follows_;
  std::vector<bool> stuck_notices_;
  std::vector<std::string> written_;
  std::vector<CloseReason> finishes_;
};

// The hub's clock, moved on by the test: now_us moves both of its clocks,
// wall_step_us the wall clock alone, as a step of the system's clock does.
struct FakeClock {
  std::int64_t now_us = 1'000'000'000;
  std::int64_t wall_step_us = 0;
  Clock clock() {
    return [this] { return HubTime{.wall_us = now_us + wall_step_us, .steady_us = now_us}; };
  }
};

// One stream's worth of test plumbing: a subscriber and the sink it writes to.
struct Client {
  Client(Hub& hub, std::string user, SubscriberKind kind = SubscriberKind::chat)
      : subscriber(hub.make_subscriber(std::move(user), kind, sink)) {
    sink.bind(subscriber.get());
  }
  std::vector<std::string> received() {
    sink.complete_all();
    return sink.written();
  }
  // Received frames starting with `prefix`.
  std::vector<std::string> received(const std::string& prefix) {
    auto all = received();
    std::vector<std::string> result;
    std::copy_if(all.begin(), all.end(), std::back_inserter(result),
                 [&](const std::string& s) { return s.rfind(prefix, 0) == 0; });
    return result;
  }
  ManualSink sink;
  SubscriberPtr subscriber;
};

}  // namespace relay::hub::testing
