#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include <grpcpp/alarm.h>

#include "cli/bench/load.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli::bench {

struct PublisherOptions {
  std::string room;
  std::size_t message_bytes = 64;
  // Messages per second; 0 means as fast as the room's fan-out goes, at most
  // `window` messages ahead of its first subscriber (see RoomProgress).
  double rate = 0;
  std::size_t window = 64;
  RoomProgress* progress = nullptr;
};

// One publishing stream on the callback API, like the subscribers, so that
// fifty publishers cost the bench no threads of their own: each publish
// starts from the completion of the one before, from an alarm when paced,
// or from the room's first subscriber when it opens the window again. It
// accepts batches as relay-chat does, since it receives its room's messages
// and its acks, which it counts and otherwise skips.
class Publisher final : public grpc::ClientBidiReactor<v1::ClientFrame, v1::ServerFrame> {
 public:
  // Opens the stream and joins the room; start() starts publishing.
  Publisher(v1::Relay::Stub& stub, PublisherOptions options);
  ~Publisher() override;

  void start();
  // Stops publishing and half-closes; returns once the stream has ended.
  void stop();
  std::uint64_t acknowledged() const { return acknowledged_.load(std::memory_order_relaxed); }
  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

  // The room's first subscriber received a message: a publisher that waits
  // for the window starts its next publish.
  void window_moved();

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  void handle(const v1::ServerFrame& frame);
  // Starts the next publish if one is due and none is in flight; else arms
  // the alarm for the next one, or parks the publisher until the window
  // opens. Only from a reaction or under a hold: it may start a write.
  void advance();
  void on_alarm(bool fired);
  bool window_open() const;

  const PublisherOptions options_;
  // Unique per run: the relay's duplicate window would take a second run's
  // "1", "2", ... for resends of the first run's and not deliver them.
  const std::string id_prefix_;
  const std::chrono::nanoseconds interval_;
  grpc::ClientContext context_;
  v1::ClientFrame out_;
  v1::ServerFrame in_;
  std::atomic<std::uint64_t> acknowledged_{0};
  std::atomic<std::uint64_t> refused_{0};
  // A parked publisher owns a hold on the call, which whoever unparks it
  // takes over: window_moved() starts writes from a subscriber's thread.
  std::atomic<bool> parked_{false};

  std::mutex mutex_;
  std::condition_variable changed_;
  grpc::Alarm alarm_;
  std::chrono::steady_clock::time_point next_;  // guarded by mutex_
  std::uint64_t next_id_ = 1;                   // guarded by mutex_
  bool joined_ = false;                         // guarded by mutex_
  bool writing_ = false;                        // guarded by mutex_
  bool started_ = false;                        // guarded by mutex_
  bool alarm_armed_ = false;                    // guarded by mutex_
  bool stopping_ = false;                       // guarded by mutex_
  bool broken_ = false;                         // a write failed; guarded by mutex_
  bool half_closed_ = false;                    // guarded by mutex_
  bool done_ = false;                           // guarded by mutex_
};

}  // namespace relay::cli::bench
