#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_set>

#include "relay/hub/subscriber_counters.hpp"

namespace relay::hub {

class Subscriber;

// The streams of a hub: how many are open and what waits in their queues,
// read at scrape time, and what they wrote (counted in SubscriberCounters,
// which never go back as streams end). Only opening and ending a stream, a
// scrape and a sweep (trim_idle) take its lock, never a delivery.
class SubscriberStats {
 public:
  struct Snapshot {
    std::size_t open_chat = 0;
    std::size_t open_follow = 0;
    SubscriberTotals totals;
    // Frames and bytes waiting in all the streams' queues (not the writes in
    // flight), and the most one stream holds.
    std::size_t queued_frames = 0;
    std::size_t queued_bytes = 0;
    std::size_t max_queued_frames = 0;
  };

  // A Subscriber adds itself as it is made and retires as it is destroyed,
  // so every pointer held here is alive: a scrape reads them under mutex_.
  void add(Subscriber& subscriber);
  void retire(Subscriber& subscriber);
  SubscriberCounters& counters() { return counters_; }
  // Subscriber::trim_if_idle of every stream; how many gave memory back.
  std::size_t trim_idle();

  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_set<Subscriber*> live_;  // guarded by mutex_
  SubscriberCounters counters_;
};

}  // namespace relay::hub
