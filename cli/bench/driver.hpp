#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/credentials.h>

#include "cli/bench/delivery.hpp"
#include "cli/bench/scenario.hpp"

// What the run needs of a server to measure it (run.cpp): subscribers in
// rooms, publishers into them. A driver maps those onto one kind of server:
// the relay's Chat streams (relay-server, the Go reference) or core NATS
// subscriptions (nats-server), with the same fan-out shape and layout.
namespace relay::cli::bench {

// One subscriber of a run: a Chat stream that joined a room, or a NATS
// subscription to the room's subject.
class Subscriber {
 public:
  virtual ~Subscriber() = default;

  // Blocks until the server has confirmed the subscription (false on timeout
  // or failure): a message published after it reaches this subscriber.
  virtual bool wait_joined(std::chrono::milliseconds timeout) = 0;
  // Ends the subscription; wait_done() then waits until no delivery runs or
  // will. Apart, so that thousands of subscribers end at once, not one after
  // another.
  virtual void cancel() = 0;
  virtual void wait_done() = 0;
  // The server ended it before cancel() (a slow consumer, say), or it received
  // what is not a benchmark message.
  virtual bool ended_early() const = 0;
  // Read once wait_done() has returned, but for delivered_so_far().
  virtual const DeliveryLog& deliveries() const = 0;
};

struct PublisherOptions {
  std::string room;
  // Which of the room's publishers this is (0, 1, ...): stamped into bodies.
  std::uint32_t index = 0;
  std::size_t message_bytes = 64;
  // Messages per second; 0 means as fast as the room's fan-out goes, at most
  // `window` messages ahead of its slowest subscriber (see RoomProgress).
  double rate = 0;
  std::size_t window = 64;
  RoomProgress* progress = nullptr;
};

// One publisher into one room.
class Publisher : public WindowListener {
 public:
  virtual ~Publisher() = default;

  virtual void start() = 0;
  // Returns once it publishes no more.
  virtual void stop() = 0;
  // Messages the server took: acknowledged by the relay; handed to the NATS
  // connection without error (core NATS does not acknowledge).
  virtual std::uint64_t published() const = 0;
  virtual std::uint64_t refused() const = 0;
};

// Idle streams held beside the measured ones (Workload::idle_streams): each
// joins its room and then only waits.
class Crowd {
 public:
  // Ends the streams that are still open.
  virtual ~Crowd() = default;

  // Blocks until every stream is in its room or the time is up; returns how
  // many are not.
  virtual std::size_t wait_joined(std::chrono::milliseconds timeout) = 0;
  // Ends every stream and waits until they are over; returns how many that
  // had joined the server ended first.
  virtual std::size_t dismiss() = 0;
};

// Opens subscribers and publishers on one server. It owns the connections
// they share, and is destroyed after all of them. subscriber() and
// publisher() are called from one thread, churner() from several.
class Driver {
 public:
  virtual ~Driver() = default;

  // Subscriber `index` of the run (0, 1, 2, ...): each connection carries
  // Workload::streams_per_connection consecutive subscribers.
  virtual std::unique_ptr<Subscriber> subscriber(std::size_t index, const std::string& room,
                                                 RoomProgress* progress) = 0;
  // A subscriber that joins and soon leaves (Workload::churners); churners
  // share one connection, whatever the layout.
  virtual std::unique_ptr<Subscriber> churner(const std::string& room) = 0;
  // Publishers share one connection.
  virtual std::unique_ptr<Publisher> publisher(PublisherOptions options) = 0;
  // Streams first_index, first_index + 1, ... (numbered and laid on
  // connections as subscribers are), stream i in rooms[i - first_index].
  virtual std::unique_ptr<Crowd> crowd(std::size_t first_index,
                                       const std::vector<std::string>& rooms) = 0;
};

// `target`: a gRPC target. Subscribers accept batches unless the workload
// says not to.
std::unique_ptr<Driver> make_grpc_driver(const std::string& target,
                                         std::shared_ptr<grpc::ChannelCredentials> credentials,
                                         const Workload& workload, const Phase& phase);
// `url`: nats://HOST:PORT.
std::unique_ptr<Driver> make_nats_driver(const std::string& url, const Workload& workload,
                                         const Phase& phase);

}  // namespace relay::cli::bench
