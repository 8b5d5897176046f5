#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <grpcpp/support/status.h>

#include "common/config.hpp"
#include "common/token_bucket.hpp"

namespace relay::service {

// A token bucket that several streams' threads take from.
class SharedBucket {
 public:
  explicit SharedBucket(const common::TokenBucket& bucket) : bucket_(bucket) {}
  // 0 when a token was taken; otherwise the microseconds until one would be.
  std::int64_t try_take(std::int64_t now_us);
  // The microseconds until try_take would take a token; 0 when it would now.
  std::int64_t wait_us(std::int64_t now_us);
  bool full(std::int64_t now_us);

 private:
  std::mutex mutex_;
  common::TokenBucket bucket_;  // guarded by mutex_
};

// What one user may still do, shared by every stream and call of that user,
// so that opening more streams never buys more rate. One lock for both
// buckets: with a user per stream, each lock is 40 bytes of an idle stream.
class UserQuota {
 public:
  explicit UserQuota(const common::RelayConfig& config);
  // 0 when a token was taken; otherwise the microseconds until one would be.
  std::int64_t try_publish(std::int64_t now_us);
  std::int64_t try_create_room(std::int64_t now_us);
  // The microseconds until try_create_room would take a token; 0 when it would now.
  std::int64_t room_creation_wait_us(std::int64_t now_us);
  // Both buckets full: forgetting the user would give them nothing.
  bool at_rest(std::int64_t now_us);

 private:
  std::mutex mutex_;
  common::TokenBucket publishes_;       // guarded by mutex_
  common::TokenBucket room_creations_;  // guarded by mutex_
};

class UserLimits;

// One open stream's place in the counts, and the quotas it draws on; giving
// the place back is destroying the slot.
class StreamSlot {
 public:
  // The user, the address and the quotas are UserLimits' entries, which
  // stay while a slot counts in them: a slot keeps references, not copies
  // (one per stream, and with a user each most of an idle stream's state).
  StreamSlot(UserLimits& limits, const std::string& user, const std::string& peer, UserQuota& quota,
             SharedBucket& peer_creations);
  ~StreamSlot();
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

  // 0 when the user may publish now (the token is taken); otherwise the
  // microseconds until a publish would be allowed.
  std::int64_t try_publish(std::int64_t now_us) { return quota_.try_publish(now_us); }
  // For hub::CreateGate: a room may be created if both the user and its
  // address have a creation left (user names are not verified, so the
  // address bounds a client that changes names). It refers to this slot,
  // with a capture that std::function keeps inline (no allocation), and the
  // hub asks it only during the call it is passed to (Hub::join,
  // Hub::publish, Backplane::publish).
  std::function<bool()> create_gate();
  // After the gate refused: the microseconds until both the user and its
  // address have a creation again, the retry hint of the refusal.
  std::int64_t creation_wait_us(std::int64_t now_us) const;

 private:
  UserLimits& limits_;
  const std::string& user_;
  const std::string& peer_;
  UserQuota& quota_;
  SharedBucket& peer_creations_;
};

// Open streams per relay, per user and per peer address, and the quotas of
// users and addresses. A refused stream costs the relay a map lookup.
class UserLimits {
 public:
  explicit UserLimits(const common::RelayConfig& config) : config_(config) {}

  // A slot for one more stream of `user` from `peer` (gRPC's peer string;
  // its port is ignored), or RESOURCE_EXHAUSTED naming the limit reached.
  struct Admission {
    std::unique_ptr<StreamSlot> slot;
    grpc::Status refusal;
  };
  Admission admit(const std::string& user, const std::string& peer);

  // Forgets users and addresses with no open stream whose quotas are at
  // rest, so that the maps hold only those seen recently (reconnecting buys
  // nothing). The relay calls it on a timer.
  void sweep(std::int64_t now_us);

  std::size_t open_streams() const;
  std::size_t users_tracked() const;

 private:
  friend class StreamSlot;
  void release(const std::string& user, const std::string& peer);

  struct User {
    explicit User(const common::RelayConfig& config) : quota(config) {}
    UserQuota quota;
    std::size_t streams = 0;
  };
  struct Peer {
    explicit Peer(const common::RelayConfig& config)
        : room_creations(
              common::TokenBucket::per_minute(config.room_creations_per_peer_per_minute)) {}
    SharedBucket room_creations;
    std::size_t streams = 0;
  };

  const common::RelayConfig& config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, User> users_;  // guarded by mutex_
  std::unordered_map<std::string, Peer> peers_;  // guarded by mutex_
  std::size_t streams_ = 0;                      // guarded by mutex_
};

// gRPC's peer string without its port ("ipv4:127.0.0.1:5000" -> "ipv4:127.0.0.1").
std::string peer_address(const std::string& peer);

// Microseconds of a steady clock: a wall-clock step must not starve or flood
// a rate limit.
std::int64_t steady_now_us();

}  // namespace relay::service
