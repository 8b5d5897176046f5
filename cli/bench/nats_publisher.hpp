#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "cli/bench/driver.hpp"
#include "cli/bench/nats_connection.hpp"
#include "cli/bench/pacer.hpp"

namespace relay::cli::bench {

// Publishes stamped bodies to a room's subject, like a publisher stream but
// with nothing to wait for: a NATS publish is written at once (SendAsap) and
// not acknowledged. At rate 0 it publishes while the room's window is open,
// from start() and then from the room's slowest subscriber as each delivery
// opens the window again (on that subscriber's delivery thread, as the gRPC
// publisher starts its writes, so that no thread hand-off is added); a paced
// publisher publishes from its Pacer.
class NatsPublisher final : public Publisher {
 public:
  NatsPublisher(std::shared_ptr<NatsConnection> connection, PublisherOptions options);
  ~NatsPublisher() override;

  void start() override;
  void stop() override;
  std::uint64_t published() const override { return published_.load(std::memory_order_relaxed); }
  std::uint64_t refused() const override { return refused_.load(std::memory_order_relaxed); }
  void window_moved() override;

 private:
  // Publishes while the window is open (rate 0) or once (paced).
  void advance();
  void publish_locked();

  const std::shared_ptr<NatsConnection> connection_;
  const PublisherOptions options_;
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> refused_{0};

  // Held while publishing, so that one publisher's bodies go out in the
  // order of their sequence numbers whichever thread sends them.
  std::mutex mutex_;
  std::uint64_t sequence_ = 0;  // guarded by mutex_
  bool started_ = false;        // guarded by mutex_
  bool stopping_ = false;       // guarded by mutex_
  Pacer pacer_;
};

}  // namespace relay::cli::bench
