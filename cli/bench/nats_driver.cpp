// The driver for nats-server: core NATS with the relay's fan-out shape. A
// room is a subject, a subscriber is a subscription to it, and the layout's
// connections carry streams_per_connection subscriptions each.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>
#include <vector>

#include "cli/bench/driver.hpp"
#include "cli/bench/nats_connection.hpp"
#include "cli/bench/nats_publisher.hpp"
#include "cli/bench/nats_subscriber.hpp"

namespace relay::cli::bench {
namespace {

// libnats's delivery pool gets a worker per core that the bench may run on
// (run.sh pins it to one): more would only take turns on the same core.
int cores_available() {
  cpu_set_t cores;
  CPU_ZERO(&cores);
  if (sched_getaffinity(0, sizeof(cores), &cores) != 0) {
    return 1;
  }
  return std::max(1, CPU_COUNT(&cores));
}

struct NatsCrowd final : Crowd {
  ~NatsCrowd() override { dismiss(); }

  std::size_t wait_joined(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t missing = 0;
    for (auto& member : members) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      missing += member->wait_joined(std::max(left, std::chrono::milliseconds(0))) ? 0 : 1;
    }
    return missing;
  }

  std::size_t dismiss() override {
    for (auto& member : members) {
      member->cancel();
    }
    std::size_t ended_early = 0;
    for (auto& member : members) {
      member->wait_done();
      ended_early += member->ended_early() ? 1 : 0;
    }
    members.clear();
    return ended_early;
  }

  std::vector<std::unique_ptr<Subscriber>> members;
};

class NatsDriver final : public Driver {
 public:
  // Connects the publishers' connection at once, so that a server that
  // cannot be reached is an error before anything is measured.
  NatsDriver(const std::string& url, const Workload& workload, const Phase& phase)
      : workload_(workload), phase_(phase), options_(url) {
    nats_SetMessageDeliveryPoolSize(cores_available());
    publisher_connection_ = std::make_shared<NatsConnection>(options_);
  }

  ~NatsDriver() override {
    subscriber_connections_.clear();
    publisher_connection_.reset();
    churn_connection_.reset();
    // Waits for libnats's own threads (timers, the delivery pool) to end, so
    // that none runs while the process exits.
    nats_CloseAndWait(kCloseTimeoutMs);
  }

  std::unique_ptr<Subscriber> subscriber(std::size_t index, const std::string& room,
                                         RoomProgress* progress) override {
    const std::size_t connection = index / workload_.streams_per_connection;
    while (subscriber_connections_.size() <= connection) {
      subscriber_connections_.push_back(connect());
    }
    return std::make_unique<NatsSubscriber>(subscriber_connections_[connection], room, phase_,
                                            progress, workload_.publishers);
  }

  std::unique_ptr<Crowd> crowd(std::size_t first_index,
                               const std::vector<std::string>& rooms) override {
    // A NATS subscription costs the bench no outstanding gRPC operation: the
    // crowd is plain subscribers.
    auto crowd = std::make_unique<NatsCrowd>();
    for (std::size_t i = 0; i < rooms.size(); ++i) {
      crowd->members.push_back(subscriber(first_index + i, rooms[i], nullptr));
    }
    return crowd;
  }

  std::unique_ptr<Subscriber> churner(const std::string& room) override {
    std::shared_ptr<NatsConnection> connection;
    {
      std::lock_guard lock(churn_mutex_);
      if (!churn_connection_) {
        churn_connection_ = connect();
      }
      connection = churn_connection_;
    }
    return std::make_unique<NatsSubscriber>(connection, room, phase_, nullptr,
                                            workload_.publishers);
  }

  std::unique_ptr<Publisher> publisher(PublisherOptions options) override {
    return std::make_unique<NatsPublisher>(publisher_connection_, std::move(options));
  }

 private:
  static constexpr std::int64_t kCloseTimeoutMs = 5000;

  // Null when the server refused: the subscribers on it count as failed.
  std::shared_ptr<NatsConnection> connect() {
    try {
      return std::make_shared<NatsConnection>(options_);
    } catch (const NatsError& error) {
      if (!reported_.exchange(true)) {
        std::cerr << "relay-bench: " << error.what() << "\n";
      }
      return nullptr;
    }
  }

  const Workload& workload_;
  const Phase& phase_;
  const NatsOptions options_;
  std::shared_ptr<NatsConnection> publisher_connection_;
  // Subscribers are opened from one thread; only churners come from several.
  std::vector<std::shared_ptr<NatsConnection>> subscriber_connections_;
  std::mutex churn_mutex_;
  std::shared_ptr<NatsConnection> churn_connection_;  // guarded by churn_mutex_
  // A connection that fails is told once, not once per subscriber.
  std::atomic<bool> reported_{false};
};

}  // namespace

std::unique_ptr<Driver> make_nats_driver(const std::string& url, const Workload& workload,
                                         const Phase& phase) {
  return std::make_unique<NatsDriver>(url, workload, phase);
}

}  // namespace relay::cli::bench
