#include "relay/service/token_leases.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "relay/service/proto_frames.hpp"
#include "relay/service/service_context.hpp"

namespace relay::service {
namespace {

constexpr std::int64_t kMaxWarningMs = 60'000;
// A token that expires no earlier than the year 5000 is as good as eternal,
// and its exp in milliseconds must not overflow.
constexpr std::int64_t kLatestExpiryS = 95'000'000'000;
// How long after a refresh that gained nothing the stream is warned again.
constexpr std::int64_t kWarnAgainMs = 10'000;

}  // namespace

std::int64_t TokenLeases::ends_ms(std::int64_t expires_s) const {
  return std::min(expires_s, kLatestExpiryS) * 1000 + grace_ms_;
}

void TokenLeases::set_expiry_locked(Lease& lease, std::int64_t expires_s,
                                    std::int64_t now_ms) const {
  expires_s = std::min(expires_s, kLatestExpiryS);
  const std::int64_t expires_ms = expires_s * 1000;
  lease.expires_s_ = expires_s;
  lease.ends_ms_.store(ends_ms(expires_s), std::memory_order_release);
  lease.warn_at_ms_ =
      expires_ms - std::min(kMaxWarningMs, std::max<std::int64_t>(0, (expires_ms - now_ms) / 2));
  lease.warned_ = false;
}

TokenLeases::LeasePtr TokenLeases::add(const hub::SubscriberPtr& subscriber, std::int64_t expires_s,
                                       std::int64_t now_ms) {
  auto lease = std::make_shared<Lease>(subscriber);
  std::lock_guard lock(mutex_);
  set_expiry_locked(*lease, expires_s, now_ms);
  leases_.insert(lease);
  return lease;
}

void TokenLeases::remove(const LeasePtr& lease) {
  std::lock_guard lock(mutex_);
  leases_.erase(lease);
}

TokenLeases::Renewal TokenLeases::renew(const LeasePtr& lease, std::int64_t expires_s,
                                        std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (!leases_.contains(lease)) {
    return Renewal::ended;
  }
  if (std::min(expires_s, kLatestExpiryS) <= lease->expires_s_) {
    // The same token again (a file not yet renewed): warned again at once,
    // the client would only send it again every second.
    const std::int64_t ends = lease->ends_ms_.load(std::memory_order_relaxed);
    lease->warn_at_ms_ =
        now_ms + std::min(kWarnAgainMs, std::max<std::int64_t>(0, ends - now_ms) / 2);
    lease->warned_ = false;
    return Renewal::not_later;
  }
  set_expiry_locked(*lease, expires_s, now_ms);
  refreshes_.fetch_add(1, std::memory_order_relaxed);
  return Renewal::renewed;
}

void TokenLeases::check(std::int64_t now_ms) {
  std::vector<std::pair<hub::SubscriberPtr, hub::FramePtr>> warnings;
  std::vector<std::pair<hub::SubscriberPtr, std::int64_t>> expired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = leases_.begin(); it != leases_.end();) {
      Lease& lease = **it;
      const std::int64_t ends = lease.ends_ms_.load(std::memory_order_relaxed);
      if (now_ms >= ends) {
        lease.ended_.store(true, std::memory_order_release);
        expired.emplace_back(lease.subscriber_, lease.expires_s_);
        it = leases_.erase(it);
        continue;
      }
      if (!lease.warned_ && now_ms >= lease.warn_at_ms_) {
        lease.warned_ = true;
        warnings.emplace_back(lease.subscriber_,
                              encode_token_expiring(lease.expires_s_, ends - now_ms));
      }
      ++it;
    }
  }
  // Outside the lock: a frame or a close may call into gRPC.
  for (auto& [subscriber, frame] : warnings) {
    send_answer(hub_, subscriber, std::move(frame));
  }
  for (const auto& [subscriber, expires_s] : expired) {
    end(subscriber, expires_s);
  }
}

bool TokenLeases::end_if_expired(const LeasePtr& lease, std::int64_t now_ms) {
  if (lease->ended()) {
    return true;
  }
  if (now_ms < lease->ends_ms_.load(std::memory_order_acquire)) {
    return false;
  }
  std::int64_t expires_s = 0;
  {
    std::lock_guard lock(mutex_);
    if (leases_.erase(lease) == 0) {
      return true;  // check() ended it a moment ago
    }
    lease->ended_.store(true, std::memory_order_release);
    expires_s = lease->expires_s_;
  }
  end(lease->subscriber_, expires_s);
  return true;
}

void TokenLeases::end(const hub::SubscriberPtr& subscriber, std::int64_t expires_s) {
  if (!subscriber->closing()) {
    expired_.fetch_add(1, std::memory_order_relaxed);
  }
  // Without draining: a client that stopped reading must not keep its
  // stream (and its rights) open behind a write that never completes.
  subscriber->close({hub::CloseCode::unauthenticated,
                     fmt::format("your token expired (exp {}) and no fresh one came within {} "
                                 "ms: reconnect with a new token",
                                 expires_s, grace_ms_)},
                    false);
  hub_.remove_from_rooms(subscriber);
}

}  // namespace relay::service
