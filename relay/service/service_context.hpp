#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common/config.hpp"
#include "common/tokens.hpp"
#include "relay/backplane/backplane.hpp"
#include "relay/hub/hub.hpp"
#include "relay/service/refusal_log.hpp"
#include "relay/service/shared_connections.hpp"
#include "relay/service/token_leases.hpp"
#include "relay/service/user_limits.hpp"

namespace relay::service {

// Every open Chat and Follow stream, so that shutdown can reach the ones that
// have joined no room too.
class StreamRegistry {
 public:
  // A stream added after close_all is closed at once with the same reason,
  // so none slips through a shutdown that races its start.
  void add(const hub::SubscriberPtr& subscriber);
  void remove(const hub::SubscriberPtr& subscriber);
  void close_all(const hub::CloseReason& reason, bool drain);
  // Closes the streams open now; later ones are not affected. Returns how
  // many it closed (not those closing already).
  std::size_t close_open(const hub::CloseReason& reason, bool drain);
  std::size_t size() const;
  // Waits until no stream is open; false if some still are at the deadline.
  bool wait_empty(std::chrono::steady_clock::time_point deadline) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable emptied_;
  std::unordered_map<std::uint64_t, hub::SubscriberPtr> streams_;  // guarded by mutex_
  std::optional<hub::CloseReason> closed_;                         // guarded by mutex_
  bool drain_ = true;                                              // guarded by mutex_
};

class PublishBatchReactor;

// Every open PublishBatch call, so that shutdown can end the ones waiting for
// their next message: they have no subscriber for StreamRegistry to close.
class BatchRegistry {
 public:
  // A batch added after drain_all is drained at once.
  void add(PublishBatchReactor* batch);
  // Called first thing in the batch's OnDone: after it, the batch is not touched.
  void remove(PublishBatchReactor* batch);
  void drain_all();
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_set<PublishBatchReactor*> batches_;  // guarded by mutex_
  bool draining_ = false;                             // guarded by mutex_
};

// What the reactors share. Owned by RelayService, which outlives every reactor
// (the server is shut down and waited for before the service dies).
struct ServiceContext {
  ServiceContext(const common::RelayConfig& config_, hub::Hub& hub_,
                 backplane::Backplane& backplane_,
                 std::shared_ptr<const common::TokenVerifier> tokens_)
      : config(config_),
        hub(hub_),
        backplane(backplane_),
        tokens(std::move(tokens_)),
        // A token is accepted until its exp plus the leeway: a stream opened
        // with it then must not end sooner.
        token_leases(hub_, std::max(config_.token_refresh_grace_ms, config_.auth_leeway_ms)),
        users(config_) {}

  const common::RelayConfig& config;
  hub::Hub& hub;
  backplane::Backplane& backplane;
  // Checks callers' bearer tokens; none: callers name themselves.
  const std::shared_ptr<const common::TokenVerifier> tokens;
  // The token-bearing streams' expiries; empty without tokens.
  TokenLeases token_leases;
  StreamRegistry streams;
  BatchRegistry batches;
  SharedConnections connections;
  UserLimits users;
  // Calls refused before a reactor exists (no identity, a limit reached),
  // summarised relay-wide as a stream summarises its own refusals.
  RefusalCounts refusal_counts;
  RefusalLog refused_calls{"relay", refusal_counts};
  std::atomic<bool> draining{false};
  // Closed streams cancelled because their last write stayed stuck.
  std::atomic<std::uint64_t> stuck_write_cancels{0};
};

// Queues an answer (an ack, a notice) for one stream. One that overflows the
// queue of a client that stopped reading makes it a slow consumer like any
// other, and it leaves its rooms at once.
void send_answer(hub::Hub& hub, const hub::SubscriberPtr& subscriber, hub::FramePtr frame);

// Now, for token expiries: milliseconds since the Unix epoch.
std::int64_t unix_now_ms();

}  // namespace relay::service
