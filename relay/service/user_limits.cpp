#include "relay/service/user_limits.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

namespace relay::service {

std::int64_t steady_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string peer_address(const std::string& peer) {
  const auto colon = peer.rfind(':');
  const auto scheme = peer.find(':');
  // "unix:/path" and the like have no port to drop.
  if (colon == std::string::npos || colon == scheme) {
    return peer;
  }
  return peer.substr(0, colon);
}

std::int64_t SharedBucket::try_take(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return bucket_.try_take(now_us) ? 0 : bucket_.wait_us(now_us);
}

std::int64_t SharedBucket::wait_us(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return bucket_.wait_us(now_us);
}

bool SharedBucket::full(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return bucket_.full(now_us);
}

UserQuota::UserQuota(const common::RelayConfig& config)
    : publishes(config.publish_rate_per_second, static_cast<double>(config.publish_burst)),
      room_creations(SharedBucket::PerMinute{config.room_creations_per_user_per_minute}) {}

StreamSlot::StreamSlot(UserLimits& limits, std::string user, std::string peer,
                       std::shared_ptr<UserQuota> quota,
                       std::shared_ptr<SharedBucket> peer_creations)
    : limits_(limits),
      user_(std::move(user)),
      peer_(std::move(peer)),
      quota_(std::move(quota)),
      peer_creations_(std::move(peer_creations)),
      create_gate_([quota = quota_, peer_creations = peer_creations_] {
        // The address first: a client cycling names is refused without
        // spending the quota of the name it borrowed.
        const std::int64_t now_us = steady_now_us();
        return peer_creations->try_take(now_us) == 0 && quota->room_creations.try_take(now_us) == 0;
      }) {}

StreamSlot::~StreamSlot() { limits_.release(user_, peer_); }

std::int64_t StreamSlot::creation_wait_us(std::int64_t now_us) const {
  // At least 1: a token may have come back since the gate refused, and a
  // hint of 0 would say that the refusal was not a rate's.
  return std::max(
      {std::int64_t{1}, peer_creations_->wait_us(now_us), quota_->room_creations.wait_us(now_us)});
}

UserLimits::Admission UserLimits::admit(const std::string& user, const std::string& peer) {
  const std::string address = peer_address(peer);
  std::lock_guard lock(mutex_);
  const auto refuse = [](std::string message) {
    return Admission{nullptr, {grpc::StatusCode::RESOURCE_EXHAUSTED, std::move(message)}};
  };
  if (config_.max_streams > 0 && streams_ >= config_.max_streams) {
    return refuse(fmt::format("the relay holds its maximum of {} streams; try again later",
                              config_.max_streams));
  }
  const auto found_user = users_.find(user);
  if (config_.max_streams_per_user > 0 && found_user != users_.end() &&
      found_user->second.streams >= config_.max_streams_per_user) {
    return refuse(fmt::format("{} already has {} streams open, the most one user may; close one",
                              user, found_user->second.streams));
  }
  const auto found_peer = peers_.find(address);
  if (config_.max_streams_per_peer > 0 && found_peer != peers_.end() &&
      found_peer->second.streams >= config_.max_streams_per_peer) {
    return refuse(fmt::format("{} streams are open from your address, the most one address may",
                              found_peer->second.streams));
  }
  User& entry = found_user != users_.end() ? found_user->second : users_[user];
  Peer& from = found_peer != peers_.end() ? found_peer->second : peers_[address];
  if (!entry.quota) {
    entry.quota = std::make_shared<UserQuota>(config_);
  }
  if (!from.room_creations) {
    from.room_creations = std::make_shared<SharedBucket>(
        SharedBucket::PerMinute{config_.room_creations_per_peer_per_minute});
  }
  ++entry.streams;
  ++from.streams;
  ++streams_;
  return Admission{
      std::make_unique<StreamSlot>(*this, user, address, entry.quota, from.room_creations),
      grpc::Status::OK};
}

void UserLimits::release(const std::string& user, const std::string& peer) {
  std::lock_guard lock(mutex_);
  --streams_;
  if (const auto found = peers_.find(peer); found != peers_.end()) {
    --found->second.streams;
  }
  if (const auto found = users_.find(user); found != users_.end()) {
    --found->second.streams;
  }
}

void UserLimits::sweep(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  std::erase_if(users_, [now_us](auto& item) {
    return item.second.streams == 0 && item.second.quota->at_rest(now_us);
  });
  std::erase_if(peers_, [now_us](auto& item) {
    return item.second.streams == 0 && item.second.room_creations->full(now_us);
  });
}

std::size_t UserLimits::open_streams() const {
  std::lock_guard lock(mutex_);
  return streams_;
}

std::size_t UserLimits::users_tracked() const {
  std::lock_guard lock(mutex_);
  return users_.size();
}

}  // namespace relay::service
