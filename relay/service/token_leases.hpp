#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "relay/hub/hub.hpp"
#include "relay/hub/subscriber.hpp"

namespace relay::service {

// The streams opened with a bearer token, each holding its token's expiry.
// check() runs on the relay's timer thread a few times a second: a stream
// whose token expires soon is told so (TokenExpiring), and one still not
// refreshed at the token's exp plus the grace is ended with UNAUTHENTICATED.
// A stream's own frames are checked as they come (end_if_expired), so that
// nothing it sends after the end counts, whenever check() runs. A stream
// costs a check a few comparisons, and a relay without tokens has no leases.
class TokenLeases {
 public:
  class Lease;
  using LeasePtr = std::shared_ptr<Lease>;

  // `grace_ms`: how long after exp a stream goes on unrefreshed.
  TokenLeases(hub::Hub& hub, std::int64_t grace_ms) : hub_(hub), grace_ms_(grace_ms) {}

  // Last thing in a stream's constructor: check() may write to it at once.
  LeasePtr add(const hub::SubscriberPtr& subscriber, std::int64_t expires_s, std::int64_t now_ms);
  // From the stream's OnDone; a lease that check() ended is already gone.
  void remove(const LeasePtr& lease);

  enum class Renewal {
    renewed,
    // The token expires no later than the one the stream holds: nothing
    // changes, and the stream is warned again a little later.
    not_later,
    ended,  // the stream was ended for its old token
  };
  Renewal renew(const LeasePtr& lease, std::int64_t expires_s, std::int64_t now_ms);
  void check(std::int64_t now_ms);
  // For a frame the stream sent: true when its token has run out (exp plus
  // the grace), the stream then ended as check() ends it.
  bool end_if_expired(const LeasePtr& lease, std::int64_t now_ms);

  // When a token with this exp stops counting: exp plus the grace, in ms
  // since the epoch.
  std::int64_t ends_ms(std::int64_t expires_s) const;

  // A call ended for its token that holds no lease (a PublishBatch, which
  // cannot refresh), counted with the streams check() ends.
  void count_expired() { expired_.fetch_add(1, std::memory_order_relaxed); }

  std::uint64_t refreshes() const { return refreshes_.load(std::memory_order_relaxed); }
  std::uint64_t expired_streams() const { return expired_.load(std::memory_order_relaxed); }

 private:
  // Sets the lease's expiry and when to warn: a minute ahead, or half of
  // what is left of the token's life when that is shorter, so that a client
  // of a short-lived token still has time to fetch a fresh one.
  void set_expiry_locked(Lease& lease, std::int64_t expires_s, std::int64_t now_ms) const;
  // Closes a stream whose lease was taken out of leases_ for its expiry.
  void end(const hub::SubscriberPtr& subscriber, std::int64_t expires_s);

  hub::Hub& hub_;
  const std::int64_t grace_ms_;
  std::mutex mutex_;
  std::unordered_set<LeasePtr> leases_;  // guarded by mutex_
  std::atomic<std::uint64_t> refreshes_{0};
  std::atomic<std::uint64_t> expired_{0};
};

class TokenLeases::Lease {
 public:
  explicit Lease(hub::SubscriberPtr subscriber) : subscriber_(std::move(subscriber)) {}

  // Set once the stream was ended for its token: its frames must no longer
  // count.
  bool ended() const { return ended_.load(std::memory_order_acquire); }

 private:
  friend class TokenLeases;
  const hub::SubscriberPtr subscriber_;
  std::int64_t expires_s_ = 0;  // guarded by TokenLeases::mutex_
  // The token's exp plus the grace, in ms since the epoch: written under
  // TokenLeases::mutex_, read without it by the stream's own frames.
  std::atomic<std::int64_t> ends_ms_{0};
  std::int64_t warn_at_ms_ = 0;  // guarded by TokenLeases::mutex_
  bool warned_ = false;          // guarded by TokenLeases::mutex_
  std::atomic<bool> ended_{false};
};

}  // namespace relay::service
