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
  return bucket_.take_or_wait_us(now_us);
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
    : publishes_(config.publish_rate_per_second, static_cast<double>(config.publish_burst)),
      room_creations_(common::TokenBucket::per_minute(config.room_creations_per_user_per_minute)) {}

std::int64_t UserQuota::try_publish(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return publishes_.take_or_wait_us(now_us);
}

std::int64_t UserQuota::try_create_room(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return room_creations_.take_or_wait_us(now_us);
}

std::int64_t UserQuota::room_creation_wait_us(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return room_creations_.wait_us(now_us);
}

bool UserQuota::at_rest(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return publishes_.full(now_us) && room_creations_.full(now_us);
}

StreamSlot::StreamSlot(UserLimits& limits, const std::string& user, const std::string& peer,
                       UserQuota& quota, SharedBucket& peer_creations)
    : limits_(limits), user_(user), peer_(peer), quota_(quota), peer_creations_(peer_creations) {}

std::function<bool()> StreamSlot::create_gate() {
  return [this] {
    // The address first: a client cycling names is refused without
    // spending the quota of the name it borrowed.
    const std::int64_t now_us = steady_now_us();
    return peer_creations_.try_take(now_us) == 0 && quota_.try_create_room(now_us) == 0;
  };
}

StreamSlot::~StreamSlot() { limits_.release(user_, peer_); }

std::int64_t StreamSlot::creation_wait_us(std::int64_t now_us) const {
  // At least 1: a token may have come back since the gate refused, and a
  // hint of 0 would say that the refusal was not a rate's.
  return std::max(
      {std::int64_t{1}, peer_creations_.wait_us(now_us), quota_.room_creation_wait_us(now_us)});
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
  // Nodes of the maps, so their keys stay put for the slot to refer to.
  const auto user_entry =
      found_user != users_.end() ? found_user : users_.try_emplace(user, config_).first;
  const auto peer_entry =
      found_peer != peers_.end() ? found_peer : peers_.try_emplace(address, config_).first;
  User& entry = user_entry->second;
  Peer& from = peer_entry->second;
  ++entry.streams;
  ++from.streams;
  ++streams_;
  return Admission{std::make_unique<StreamSlot>(*this, user_entry->first, peer_entry->first,
                                                entry.quota, from.room_creations),
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
  // Not std::erase_if: it hands the entries over as const, and reading a
  // bucket takes its lock.
  for (auto it = users_.begin(); it != users_.end();) {
    const bool idle = it->second.streams == 0 && it->second.quota.at_rest(now_us);
    it = idle ? users_.erase(it) : std::next(it);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    const bool idle = it->second.streams == 0 && it->second.room_creations.full(now_us);
    it = idle ? peers_.erase(it) : std::next(it);
  }
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
