#include "relay/hub/write_turns.hpp"

#include <algorithm>

namespace relay::hub {
namespace {

// FlushTimer runs what falls due within a millisecond together, so a watch
// may come up to that early: the next is set at least this far on.
constexpr auto kWatchSlack = std::chrono::milliseconds(1);

}  // namespace

WriteTurns::WriteTurns() : WriteTurns(Options{}) {}

WriteTurns::WriteTurns(Options options, Clock::time_point now)
    : options_(options), generation_start_(now) {}

WriteTurns::Outcome WriteTurns::completed(const std::shared_ptr<Subscriber>& subscriber, Seat& seat,
                                          bool next, bool more_follows, Clock::time_point now,
                                          std::vector<Start>& starts) {
  std::lock_guard lock(mutex_);
  expire_locked(now);
  if (seat.holds) {
    seat.holds = false;
    if (seat.generation == generation_ && held_ > 0) {
      --held_;
    }
  }
  Outcome outcome;
  if (!next) {
    seat.burst = 0;
  } else if ((waiting_.empty() || seat.burst < options_.burst) && held_ < options_.writers) {
    take_locked(seat);
    ++seat.burst;
  } else {
    outcome.start_now = false;
    seat.waiting = true;
    seat.more_follows = more_follows;
    seat.burst = 0;
    waiting_.emplace_back(subscriber, &seat);
    waiting_count_.store(waiting_.size(), std::memory_order_relaxed);
  }
  start_waiting_locked(starts);
  outcome.watch = watch_locked(now);
  return outcome;
}

std::optional<WriteTurns::Watch> WriteTurns::due(Clock::time_point now,
                                                 std::vector<Start>& starts) {
  std::lock_guard lock(mutex_);
  expire_locked(now);
  start_waiting_locked(starts);
  return watch_locked(now);
}

void WriteTurns::expire_locked(Clock::time_point now) {
  if (now - generation_start_ < options_.expiry) {
    return;
  }
  // The turns of the generation that ends are given back all at once; their
  // writes' completions then give back nothing.
  ++generation_;
  held_ = 0;
  generation_start_ = now;
}

void WriteTurns::take_locked(Seat& seat) {
  seat.holds = true;
  seat.generation = generation_;
  ++held_;
}

void WriteTurns::start_waiting_locked(std::vector<Start>& starts) {
  while (!waiting_.empty() && held_ < options_.writers) {
    auto [weak, seat] = waiting_.front();
    waiting_.pop_front();
    auto subscriber = weak.lock();
    if (subscriber == nullptr || !seat->waiting) {
      continue;
    }
    seat->waiting = false;
    take_locked(*seat);
    seat->burst = 1;
    starts.push_back({std::move(subscriber), seat->more_follows});
  }
  waiting_count_.store(waiting_.size(), std::memory_order_relaxed);
}

std::optional<WriteTurns::Watch> WriteTurns::watch_locked(Clock::time_point now) {
  // A watch whose time has come (or that its subscriber did not live to
  // see) is spent: if streams still wait on held turns, another is set.
  if (watch_at_ && *watch_at_ <= now + kWatchSlack) {
    watch_at_.reset();
  }
  if (waiting_.empty() || held_ < options_.writers || watch_at_) {
    return std::nullopt;
  }
  watch_at_ = std::max(generation_start_ + options_.expiry, now) + kWatchSlack;
  return Watch{*watch_at_, waiting_.front().first};
}

}  // namespace relay::hub
