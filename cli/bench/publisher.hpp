#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

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

// One publishing stream: a writer thread paces publishes, a reader thread
// counts acknowledgements (and skips the publisher's own deliveries). A few
// publishers need only a few threads; the many subscribers use the callback
// API instead.
class Publisher {
 public:
  Publisher(v1::Relay::Stub& stub, PublisherOptions options);
  ~Publisher();

  void start();
  // Ends the stream: a half-close, then the reader drains.
  void stop();
  std::uint64_t acknowledged() const { return acknowledged_.load(std::memory_order_relaxed); }
  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  void write_loop();
  // Waits until the room's fan-out is less than a window behind; false when
  // stopping.
  bool wait_for_window();
  void read_loop();

  const PublisherOptions options_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ClientFrame, v1::ServerFrame>> stream_;
  std::atomic<std::uint64_t> acknowledged_{0};
  std::atomic<std::uint64_t> refused_{0};

  std::mutex mutex_;
  std::condition_variable changed_;
  bool joined_ = false;       // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  bool stream_over_ = false;  // guarded by mutex_
  std::thread writer_;
  std::thread reader_;
};

}  // namespace relay::cli::bench
