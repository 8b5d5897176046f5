#include "relay/hub/subscriber_stats.hpp"

#include <algorithm>

#include "relay/hub/subscriber.hpp"

namespace relay::hub {

void SubscriberStats::add(Subscriber& subscriber) {
  std::lock_guard lock(mutex_);
  live_.insert(&subscriber);
}

void SubscriberStats::retire(Subscriber& subscriber) {
  std::lock_guard lock(mutex_);
  live_.erase(&subscriber);
}

std::size_t SubscriberStats::trim_idle() {
  // Each stream's lock under this one, in the order a scrape takes them.
  std::lock_guard lock(mutex_);
  std::size_t trimmed = 0;
  for (Subscriber* subscriber : live_) {
    trimmed += subscriber->trim_if_idle() ? 1 : 0;
  }
  return trimmed;
}

SubscriberStats::Snapshot SubscriberStats::snapshot() const {
  Snapshot snapshot;
  std::lock_guard lock(mutex_);
  snapshot.totals = counters_.read();
  for (const Subscriber* subscriber : live_) {
    (subscriber->kind() == SubscriberKind::chat ? snapshot.open_chat : snapshot.open_follow) += 1;
    const std::size_t frames = subscriber->queued_frames();
    snapshot.queued_frames += frames;
    snapshot.queued_bytes += subscriber->queued_bytes();
    snapshot.max_queued_frames = std::max(snapshot.max_queued_frames, frames);
  }
  return snapshot;
}

}  // namespace relay::hub
