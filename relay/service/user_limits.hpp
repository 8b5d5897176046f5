#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <grpcpp/support/status.h>

#include "common/config.hpp"
#include "common/token_bucket.hpp"

namespace relay::service {

// What one user may still do, shared by every stream and call of that user,
// so that opening more streams never buys more rate.
class UserQuota {
 public:
  UserQuota(const common::RelayConfig& config);

  // 0 when the user may publish now (the token is taken); otherwise the
  // microseconds until a publish would be allowed.
  std::int64_t try_publish(std::int64_t now_us);
  // The microseconds until a publish would be allowed, taking nothing.
  std::int64_t publish_wait_us(std::int64_t now_us);
  bool try_create_room(std::int64_t now_us);
  // Both buckets refilled: forgetting the user now changes nothing.
  bool at_rest(std::int64_t now_us);

 private:
  std::mutex mutex_;
  common::TokenBucket publishes_;       // guarded by mutex_
  common::TokenBucket room_creations_;  // guarded by mutex_
};

class UserLimits;

// One open stream's place in the counts; giving it back is destroying it.
class StreamSlot {
 public:
  StreamSlot(UserLimits& limits, std::string user, std::string peer,
             std::shared_ptr<UserQuota> quota)
      : limits_(limits), user_(std::move(user)), peer_(std::move(peer)), quota_(std::move(quota)) {}
  ~StreamSlot();
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

  UserQuota& quota() const { return *quota_; }

 private:
  UserLimits& limits_;
  const std::string user_;
  const std::string peer_;
  const std::shared_ptr<UserQuota> quota_;
};

// Open streams per relay, per user and per peer address, and each user's
// quota. A refused stream costs the relay a map lookup, nothing more.
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

  // Forgets the quotas of users with no open stream that are at rest, so
  // that the map holds only users seen recently. The relay calls it on a timer.
  void sweep(std::int64_t now_us);

  std::size_t open_streams() const;
  std::size_t users_tracked() const;

 private:
  friend class StreamSlot;
  void release(const std::string& user, const std::string& peer);

  struct User {
    std::shared_ptr<UserQuota> quota;
    std::size_t streams = 0;
  };

  const common::RelayConfig& config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, User> users_;                // guarded by mutex_
  std::unordered_map<std::string, std::size_t> peer_streams_;  // guarded by mutex_
  std::size_t streams_ = 0;                                    // guarded by mutex_
};

// gRPC's peer string without its port ("ipv4:127.0.0.1:5000" -> "ipv4:127.0.0.1").
std::string peer_address(const std::string& peer);

// Microseconds of a steady clock: a wall-clock step must not starve or flood
// a rate limit.
std::int64_t steady_now_us();

}  // namespace relay::service
