#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace relay::cli::bench {

// A libnats call that failed, with the library's own account of it.
class NatsError : public std::runtime_error {
 public:
  NatsError(const std::string& what, natsStatus status);
};

// The options every connection of a run is made with (natsConnection_Connect
// copies them), for a benchmark against one local nats-server:
// - SendAsap: a publish is written at once, as the gRPC publisher writes each
//   message at once. Without it a flusher thread per connection waits up to
//   1 ms to gather more, which would add the client's wait to the server's
//   latency, and the people layout would have a flusher thread per subscriber.
// - UseGlobalMessageDelivery: libnats otherwise gives every asynchronous
//   subscription a delivery thread of its own: 10,000 idle subscribers would
//   be 10,000 threads, and in fanout a message to 100 subscribers of one
//   connection would wake 100 threads. The library's pool instead hands the
//   messages of all subscriptions to a few workers (the driver sizes the
//   pool to the cores the bench may use), in order per subscription. Each
//   connection still has its reader thread, as each Go client connection has
//   its goroutine.
// - No reconnecting: a connection that the server closes (a slow consumer)
//   ends its subscriptions, which count as failed, as a relay's stream would.
// - A connect may take as long as a relay's stream is given to join (30 s),
//   not libnats's 2 s: opening 10,000 connections on a busy machine, a few
//   took longer.
class NatsOptions {
 public:
  explicit NatsOptions(const std::string& url);
  natsOptions* get() const { return options_.get(); }

 private:
  struct Destroy {
    void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
  };
  std::unique_ptr<natsOptions, Destroy> options_;
};

// One connection, shared by the subscriptions that the layout puts on it
// (and by whoever holds it: subscriptions keep it open until they end).
class NatsConnection {
 public:
  // Throws NatsError when the server cannot be reached.
  explicit NatsConnection(const NatsOptions& options);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  natsConnection* get() const { return connection_; }

  // Call after each subscribe or unsubscribe on this connection (the SUB or
  // UNSUB is written at once): returns the number that confirm() takes.
  std::uint64_t sent();
  // Returns once the server has processed the SUB or UNSUB `number` and those
  // before it, and this connection's reader has passed every message the
  // server sent before that: a PING sent after them was answered. After a
  // SUB, a message published from now on reaches the subscription; after an
  // UNSUB, no message for the subscription is being read any more. One round
  // trip confirms everything sent before it, so that 100 subscribers on a
  // connection cost one, not 100.
  bool confirm(std::uint64_t number, std::chrono::milliseconds timeout);

 private:
  natsConnection* connection_ = nullptr;
  std::mutex mutex_;             // serialises confirmations
  std::uint64_t sent_ = 0;       // guarded by mutex_
  std::uint64_t confirmed_ = 0;  // guarded by mutex_
};

}  // namespace relay::cli::bench
