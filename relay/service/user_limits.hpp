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
  SharedBucket(double rate_per_second, double burst) : bucket_(rate_per_second, burst) {}
  // `count` a minute, that many at once (0: no limit).
  struct PerMinute {
    std::size_t count;
  };
  explicit SharedBucket(PerMinute per_minute)
      : SharedBucket(static_cast<double>(per_minute.count) / 60.0,
                     static_cast<double>(per_minute.count)) {}
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
// so that opening more streams never buys more rate.
struct UserQuota {
  explicit UserQuota(const common::RelayConfig& config);
  bool at_rest(std::int64_t now_us) {
    return publishes.full(now_us) && room_creations.full(now_us);
  }

  SharedBucket publishes;
  SharedBucket room_creations;
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
  std::int64_t try_publish(std::int64_t now_us) { return quota_.publishes.try_take(now_us); }
  // For hub::CreateGate: a room may be created if both the user and its
  // address have a creation left (user names are not verified, so the
  // address bounds a client that changes names). Built once per stream, so
  // that a publish or a join pays nothing for it until it creates a room. It
  // refers to this slot: call it only during the call it is passed to.
  const std::function<bool()>& create_gate() const { return create_gate_; }
  // After the gate refused: the microseconds until both the user and its
  // address have a creation again, the retry hint of the refusal.
  std::int64_t creation_wait_us(std::int64_t now_us) const;

 private:
  UserLimits& limits_;
  const std::string& user_;
  const std::string& peer_;
  UserQuota& quota_;
  SharedBucket& peer_creations_;
  const std::function<bool()> create_gate_;
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
        : room_creations(SharedBucket::PerMinute{config.room_creations_per_peer_per_minute}) {}
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
