#include "relay/service/user_limits.hpp"

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

UserQuota::UserQuota(const common::RelayConfig& config)
    : publishes_(config.publish_rate_per_second, static_cast<double>(config.publish_burst)),
      room_creations_(static_cast<double>(config.room_creations_per_user_per_minute) / 60.0,
                      static_cast<double>(config.room_creations_per_user_per_minute)) {}

std::int64_t UserQuota::try_publish(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  if (publishes_.try_take(now_us)) {
    return 0;
  }
  return publishes_.wait_us(now_us);
}

std::int64_t UserQuota::publish_wait_us(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return publishes_.wait_us(now_us);
}

bool UserQuota::try_create_room(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return room_creations_.try_take(now_us);
}

bool UserQuota::at_rest(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  return publishes_.full(now_us) && room_creations_.full(now_us);
}

StreamSlot::~StreamSlot() { limits_.release(user_, peer_); }

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
  auto& entry = users_[user];
  if (config_.max_streams_per_user > 0 && entry.streams >= config_.max_streams_per_user) {
    return refuse(fmt::format("{} already has {} streams open, the most one user may; close one",
                              user, entry.streams));
  }
  auto& from_peer = peer_streams_[address];
  if (config_.max_streams_per_peer > 0 && from_peer >= config_.max_streams_per_peer) {
    return refuse(
        fmt::format("{} streams are open from your address, the most one address may", from_peer));
  }
  if (!entry.quota) {
    entry.quota = std::make_shared<UserQuota>(config_);
  }
  ++entry.streams;
  ++from_peer;
  ++streams_;
  return Admission{std::make_unique<StreamSlot>(*this, user, address, entry.quota),
                   grpc::Status::OK};
}

void UserLimits::release(const std::string& user, const std::string& peer) {
  std::lock_guard lock(mutex_);
  --streams_;
  if (const auto found = peer_streams_.find(peer);
      found != peer_streams_.end() && --found->second == 0) {
    peer_streams_.erase(found);
  }
  if (const auto found = users_.find(user); found != users_.end()) {
    --found->second.streams;
  }
}

void UserLimits::sweep(std::int64_t now_us) {
  std::lock_guard lock(mutex_);
  std::erase_if(users_, [now_us](auto& item) {
    const User& user = item.second;
    return user.streams == 0 && (!user.quota || user.quota->at_rest(now_us));
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
