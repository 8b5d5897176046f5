#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "cli/bench/driver.hpp"
#include "cli/bench/grpc_subscriber.hpp"
#include "cli/bench/pacer.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli::bench {

// One publishing stream on the callback API, like the subscribers, so that
// fifty publishers at full speed cost the bench no threads of their own:
// each publish starts from the completion of the one before, or from the
// room's slowest subscriber when it opens the window again. A paced publisher
// has a Pacer that marks each publish due at its time. It
// accepts batches as relay-chat does, since it receives its room's messages
// and its acks, which it counts and otherwise skips.
class PublisherStream final : public ChatReactor, public Publisher {
 public:
  // Opens the stream and joins the room; start() starts publishing.
  PublisherStream(ChatStub& stub, PublisherOptions options);
  ~PublisherStream() override;

  void start() override;
  // Stops publishing and half-closes; returns once the stream has ended.
  void stop() override;
  // Acknowledged by the relay.
  std::uint64_t published() const override { return acknowledged_.load(std::memory_order_relaxed); }
  std::uint64_t refused() const override { return refused_.load(std::memory_order_relaxed); }

  // The room's slowest subscriber received a message: a publisher that waits
  // for the window starts its next publish.
  void window_moved() override;

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  void handle(const v1::ServerFrame& frame);
  // Starts the next publish if one is due and none is in flight, or parks
  // the publisher until the window opens. Only from a reaction or under a
  // hold: it may start a write.
  void advance();
  bool window_open() const;
  // The Pacer's tick: one more publish is due.
  void publish_due();

  const PublisherOptions options_;
  // Unique per run: the relay's duplicate window would take a second run's
  // "1", "2", ... for resends of the first run's and not deliver them.
  const std::string id_prefix_;
  grpc::ClientContext context_;
  v1::ClientFrame out_;
  grpc::ByteBuffer in_;
  std::atomic<std::uint64_t> acknowledged_{0};
  std::atomic<std::uint64_t> refused_{0};
  // A parked publisher owns a hold on the call, which whoever unparks it
  // takes over: window_moved() starts writes from a subscriber's thread.
  std::atomic<bool> parked_{false};

  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t due_ = 0;      // paced publishes not yet started; guarded by mutex_
  std::uint64_t next_id_ = 1;  // guarded by mutex_
  bool joined_ = false;        // guarded by mutex_
  bool writing_ = false;       // guarded by mutex_
  bool started_ = false;       // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  bool broken_ = false;        // a write failed or a frame did not parse; guarded by mutex_
  bool half_closed_ = false;   // guarded by mutex_
  bool done_ = false;          // guarded by mutex_
  // Stopped by stop() before it gives up the constructor's hold, which is
  // what lets it start writes.
  Pacer pacer_;
};

}  // namespace relay::cli::bench
