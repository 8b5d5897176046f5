#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "jetstream.hpp"
#include "phases.hpp"
#include "publisher.hpp"
#include "server_probe.hpp"

namespace relay::bench::nats_positions {

// The consumers one relay keeps for the rooms it serves: one per room, or
// one for all of them.

// Counts what the consumers of the many-consumers phase receive.
struct Deliveries {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t received = 0;  // guarded by mutex
  std::int64_t last_ns = 0;    // guarded by mutex

  static void on_message(natsConnection*, natsSubscription*, natsMsg* message, void* closure) {
    natsMsg_Destroy(message);
    auto* self = static_cast<Deliveries*>(closure);
    std::lock_guard lock(self->mutex);
    ++self->received;
    self->last_ns = now_ns();
    self->changed.notify_all();
  }

  bool wait_for(std::uint64_t expected) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(60), [&] { return received >= expected; });
  }
};

// An ordered push consumer from now on, handing its messages to `deliveries`.
SubscriptionPtr subscribe_new(jsCtx* context, const char* stream, const std::string& filter,
                              Deliveries& deliveries);

// Publishes over all rooms while `subscriptions` consume and reports what
// keeping and feeding them costs the server and this process (which
// publishes too, the same amount for every kind of consumer).
nlohmann::json feed_consumers(const Options& options, Publisher& publisher,
                              const std::string& prefix, std::uint64_t expected,
                              Deliveries& deliveries, double create_ms, const ServerSample& before,
                              std::int64_t own_rss_before_kib);

}  // namespace relay::bench::nats_positions
