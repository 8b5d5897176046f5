#include "relay/hub/subscriber.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "relay/hub/subscriber_stats.hpp"

namespace relay::hub {
namespace {

// Fewer writes to one connection than this are not worth holding it for: a
// hold and its release cost the relay three system calls.
constexpr std::size_t kMinHeldWrites = 4;
// Nor more than this: a held connection sends nothing until its release, so
// the first stream of a group waits for the writes of the last. With 100
// streams on one connection, holds of at most 32 (so four of 25) against one
// of 100: relay-bench latency p50 0.62x and p99 0.92x at 1.02x the CPU per
// delivery; quiet p50 0.72x, p99 0.90x at 1.03x; 16 cost 1.09x the CPU for
// no better latency (bench/compare.sh, 3 runs of 4-8 s).
constexpr std::size_t kMaxHeldWrites = 32;
// A backlog's writes kept back in gRPC's transport (Action::more_follows)
// before one sends them: the first frame of a backlog waits for this many
// completions at most. No limit let a whole backlog wait (rooms without
// batches: p99 1.5-2.8x in three rounds); with 8, fanout without batches,
// 100 streams a connection, took 0.80x the CPU per delivery and gave 1.24x
// the deliveries, p50 0.29x, p99 0.10x; rooms and latency did not move
// (bench/compare.sh, 3-5 runs of 4 s).
constexpr std::size_t kMaxKeptBackWrites = 8;

// The connection whose streams this thread is starting writes on, held by
// the first of them that does write: a stream that lingers writes nothing,
// and a group that writes nothing is not worth three system calls.
struct WriteGroup {
  SharedConnection* connection = nullptr;
  bool tried = false;
  bool held = false;
};
thread_local WriteGroup* current_group = nullptr;

}  // namespace

Subscriber::Subscriber(std::uint64_t id, std::string user, SubscriberKind kind, QueueLimits limits,
                       FrameSink& sink, WriteBatching batching, FlushTimer* timer,
                       std::shared_ptr<SharedConnection> connection, SubscriberStats* stats)
    : id_(id),
      user_(std::move(user)),
      limits_(limits),
      batching_(batching),
      sink_(sink),
      timer_(timer),
      connection_(std::move(connection)),
      stats_(stats),
      kind_(kind) {
  if (stats_ != nullptr) {
    stats_->add(*this);
  }
}

Subscriber::~Subscriber() {
  // First, while every member is alive: a scrape may be reading them.
  if (stats_ != nullptr) {
    stats_->retire(*this);
  }
  // A stream dropped while open (its timer holds it weakly, and so cannot
  // release for it): the connection may carry other streams.
  if (holding_) {
    connection_->release();
  }
}

bool Subscriber::enqueue(FramePtr frame, bool replay) {
  return enqueue(std::move(frame), replay, false);
}

bool Subscriber::enqueue_answer(FramePtr frame) { return enqueue(std::move(frame), false, true); }

bool Subscriber::enqueue(FramePtr frame, bool replay, bool answer) {
  std::lock_guard lock(mutex_);
  if (state_ != State::open) {
    return false;
  }
  const std::size_t size = frame->size_bytes();
  const std::size_t rooms = rooms_.size() + 1;
  const bool overflow = replay
                            ? replay_frames_ + 1 > limits_.max_replay_frames_per_room * rooms ||
                                  replay_bytes_ + size > limits_.max_replay_bytes_per_room * rooms
                            : queue_.size() - replay_frames_ + 1 > limits_.max_frames ||
                                  queued_bytes_ - replay_bytes_ + size > limits_.max_bytes;
  if (overflow) {
    // First, so that nothing has changed if making it fails.
    ending_ = std::make_unique<Ending>(
        Ending{{CloseCode::resource_exhausted,
                "slow consumer: the relay's queue for this stream is full; reconnect and "
                "resume from your last sequence"},
               Overflow{queue_.size(), queued_bytes_}});
    if (stats_ != nullptr) {
      stats_->counters().slow_consumer();
    }
    clear_queue_locked();
    state_ = State::closing;
    drain_ = false;
    return true;
  }
  // First, so that the counters stay true if growing the ring fails.
  push_locked({std::move(frame), replay, answer});
  queued_bytes_ += size;
  if (replay) {
    ++replay_frames_;
    replay_bytes_ += size;
  }
  return !write_in_flight_;
}

namespace {

// The ring starts with one slot, all that an idle stream's frames (a Joined,
// now and then a message) need, and doubles as the stream's depth asks. It
// keeps up to kKeptQueue slots (768 bytes) while empty behind a write in
// flight, so that a busy stream whose depth stays within that allocates
// nothing once grown, while one that a burst grew further gives it all back.
// A stream idle for a sweep gives back what it keeps (trim_if_idle).
constexpr std::size_t kFirstQueue = 1;
constexpr std::size_t kKeptQueue = 32;

}  // namespace

void Subscriber::push_locked(Queued queued) {
  if (queue_.full()) {
    queue_.set_capacity(std::max(kFirstQueue, 2 * queue_.capacity()));
  }
  queue_.push_back(std::move(queued));
}

void Subscriber::pop_front_locked() {
  queue_.pop_front();
  if (queue_.empty() && queue_.capacity() > kKeptQueue) {
    Queue().swap(queue_);  // allocates nothing, so a pop cannot fail
  }
}

void Subscriber::clear_queue_locked() {
  // What a slow consumer's overflow grew goes with it, not when the
  // stream's last write completes.
  Queue().swap(queue_);
  queued_bytes_ = 0;
  replay_frames_ = 0;
  replay_bytes_ = 0;
}

bool Subscriber::flush() {
  Action action;
  bool closing = false;
  std::optional<Overflow> overflowed;
  {
    std::lock_guard lock(mutex_);
    action = next_action_locked();
    closing = state_ != State::open;
    if (ending_ != nullptr) {
      overflowed = std::exchange(ending_->overflowed, std::nullopt);
    }
  }
  if (overflowed) {
    spdlog::warn("slow consumer: closing stream {} of {} with {} frames ({} bytes) queued", id_,
                 user_, overflowed->frames, overflowed->bytes);
  }
  run(std::move(action));
  return closing;
}

void Subscriber::flush_due() {
  if (batching_.turns != nullptr && batching_.turns->anyone_waiting()) {
    std::vector<WriteTurns::Start> starts;
    const auto watch = batching_.turns->due(WriteTurns::Clock::now(), starts);
    for (const auto& start : starts) {
      start.subscriber->start_turn(start.more_follows);
    }
    if (watch && timer_ != nullptr) {
      timer_->schedule(watch->subscriber, watch->at);
    }
  }
  Action action;
  {
    std::lock_guard lock(mutex_);
    // A stream's connection may have become shared, or its own, between
    // the hold or the linger and now: each is ended as it was begun.
    const bool released = std::exchange(holding_, false);
    if (!released || flush_scheduled_) {
      flush_scheduled_ = false;
      action = next_action_locked(true);
    }
    action.release = released;
  }
  run(std::move(action));
}

bool Subscriber::add_room_if_open(const std::string& room) {
  std::lock_guard lock(mutex_);
  if (state_ != State::open) {
    return false;
  }
  rooms_.push_back(room);
  return true;
}

void Subscriber::remove_room(const std::string& room) {
  std::lock_guard lock(mutex_);
  std::erase(rooms_, room);
}

std::vector<std::string> Subscriber::rooms() const {
  std::lock_guard lock(mutex_);
  return rooms_;
}

bool Subscriber::in_room(const std::string& room) const {
  std::lock_guard lock(mutex_);
  return std::find(rooms_.begin(), rooms_.end(), room) != rooms_.end();
}

std::size_t Subscriber::room_count() const {
  std::lock_guard lock(mutex_);
  return rooms_.size();
}

void Subscriber::on_write_done(bool ok) {
  Action action;
  {
    std::lock_guard lock(mutex_);
    write_in_flight_ = false;
    if (ok && stats_ != nullptr) {
      stats_->counters().wrote(in_flight_.size(), in_flight_bytes_);
    }
    in_flight_.clear();
    if (timing_write_) {
      timing_write_ = false;
      const auto now = FlushTimer::Clock::now();
      if (stats_ != nullptr) {
        stats_->counters().write_took(now - last_write_started_);
      }
      if (answer_in_flight_) {
        // An answer is written before the fan-out that its thread starts
        // next (Hub::DeferredWrites), and its completion waits for that:
        // how long it took says how long the fan-out was, not that the
        // relay is saturated. (relay-bench quiet, whose publisher is the
        // only stream that batches: every window counted as saturated,
        // and p50 was 9 ms.)
        batching_.linger->write_completed(now);
      } else {
        batching_.linger->write_completed(now - last_write_started_, now);
      }
    } else if (plain_and_lingering()) {
      batching_.linger->write_completed(FlushTimer::Clock::now());
    }
    if (!ok && state_ != State::finished) {
      // The peer is gone: nothing more can be written, only finished.
      clear_queue_locked();
      if (state_ == State::open) {
        ending_ = std::make_unique<Ending>(Ending{{CloseCode::cancelled, "stream broken"}, {}});
      }
      state_ = State::closing;
      drain_ = false;
    }
    action = next_action_locked();
  }
  // Turns only while the relay is saturated: below that, a backlog is one
  // frame behind a write at most and waiting for a turn only adds delay
  // (relay-bench latency with 100 streams a connection: p50 1.13x, p99 1.48x
  // at 1.07x the CPU per delivery with turns at every load). The seat is read
  // without WriteTurns' lock: only this stream's own completions and the
  // start of its turn write it, and neither runs beside this one.
  const bool saturated = batching_.linger != nullptr && batching_.linger->stretched();
  if (batching_.turns != nullptr && ((action.write && saturated) || turn_.holds)) {
    run_backlog(std::move(action));
  } else {
    run(std::move(action));
  }
}

void Subscriber::run_backlog(Action action) {
  auto self = weak_from_this().lock();
  if (self == nullptr) {
    run(std::move(action));  // not owned by a shared_ptr: nothing could start it later
    return;
  }
  std::vector<WriteTurns::Start> starts;
  const auto outcome = batching_.turns->completed(self, turn_, action.write, action.more_follows,
                                                  WriteTurns::Clock::now(), starts);
  if (outcome.start_now) {
    run(std::move(action));
  } else {
    // The write waits for its turn without holding its connection: a hold
    // would keep the connection's other streams waiting with it.
    if (action.hold_until) {
      std::lock_guard lock(mutex_);
      holding_ = false;
    }
    if (action.release) {
      connection_->release();
    }
  }
  for (const auto& start : starts) {
    start.subscriber->start_turn(start.more_follows);
  }
  if (outcome.watch && timer_ != nullptr) {
    timer_->schedule(outcome.watch->subscriber, outcome.watch->at);
  }
}

void Subscriber::start_turn(bool more_follows) {
  {
    std::lock_guard lock(mutex_);
    // A lingering stream's write counts from when it starts, not from when
    // it began to wait (AdaptiveLinger would take the wait for saturation).
    if (timing_write_) {
      last_write_started_ = FlushTimer::Clock::now();
    }
  }
  sink_.start_write(in_flight_, more_follows);
}

bool Subscriber::trim_if_idle() {
  std::lock_guard lock(mutex_);
  const bool idle = !wrote_since_trim_ && !write_in_flight_ && queue_.empty();
  wrote_since_trim_ = false;
  if (!idle || (queue_.capacity() == 0 && in_flight_.capacity() == 0)) {
    return false;
  }
  clear_queue_locked();  // empty: only its storage goes
  std::vector<FramePtr>().swap(in_flight_);
  return true;
}

bool Subscriber::close(CloseReason reason, bool drain) {
  Action action;
  {
    std::lock_guard lock(mutex_);
    if (state_ != State::open) {
      return false;
    }
    ending_ = std::make_unique<Ending>(Ending{std::move(reason), {}});
    state_ = State::closing;
    drain_ = drain;
    if (!drain) {
      clear_queue_locked();
    }
    action = next_action_locked();
  }
  run(std::move(action));
  return true;
}

bool Subscriber::closing() const {
  std::lock_guard lock(mutex_);
  return state_ != State::open;
}

std::size_t Subscriber::queued_frames() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t Subscriber::queue_slots() const {
  std::lock_guard lock(mutex_);
  return queue_.capacity();
}

std::size_t Subscriber::queued_bytes() const {
  std::lock_guard lock(mutex_);
  return queued_bytes_;
}

Subscriber::Action Subscriber::next_action_locked(bool due) {
  Action action;
  if (state_ == State::finished) {
    return action;
  }
  if (write_in_flight_) {
    tell_write_stuck_locked();
    return action;
  }
  if (!queue_.empty() && (state_ == State::open || drain_)) {
    // Every write of a batching stream is timed, lingering or not: how long
    // they take is how the linger learns that the relay is saturated.
    if (timed()) {
      const auto now = FlushTimer::Clock::now();
      const auto ready = last_write_started_ + linger();
      if (state_ == State::open && !due && now < ready && !worth_writing_now_locked()) {
        if (!flush_scheduled_) {
          flush_scheduled_ = true;
          action.flush_at = ready;
        }
        return action;
      }
      last_write_started_ = now;
      timing_write_ = true;
    } else if (defers_while_saturated() && kept_back_ == 0 && state_ == State::open) {
      // Not within a backlog's writes (kept_back_), which go one after the
      // other, nor past what one backlog carries.
      if (const auto linger_now = linger(); linger_now.count() > 0) {
        const auto now = FlushTimer::Clock::now();
        const auto ready = last_write_started_ + linger_now;
        if (!due && now < ready && queue_.size() <= kMaxKeptBackWrites && !answer_queued_locked()) {
          if (!flush_scheduled_) {
            flush_scheduled_ = true;
            action.flush_at = ready;
          }
          return action;
        }
        last_write_started_ = now;
      }
    }
    std::size_t batch_bytes = 0;
    bool answer = false;
    while (!queue_.empty() &&
           (in_flight_.empty() ||
            (in_flight_.size() < batching_.max_frames &&
             batch_bytes + queue_.front().frame->size_bytes() <= batching_.max_bytes))) {
      Queued next = std::move(queue_.front());
      pop_front_locked();
      const std::size_t size = next.frame->size_bytes();
      batch_bytes += size;
      queued_bytes_ -= size;
      if (next.replay) {
        --replay_frames_;
        replay_bytes_ -= size;
      }
      answer = answer || next.answer;
      in_flight_.push_back(std::move(next.frame));
    }
    in_flight_bytes_ = batch_bytes;
    answer_in_flight_ = answer;
    action.write = true;
    action.more_follows =
        !batches() && !answer && !queue_.empty() && kept_back_ < kMaxKeptBackWrites;
    kept_back_ = action.more_follows ? kept_back_ + 1 : 0;
    write_in_flight_ = true;
    wrote_since_trim_ = true;
    tell_write_stuck_locked();
    if (answer) {
      action.release = std::exchange(holding_, false);
    } else if (holds_while_saturated() && !holding_ && state_ == State::open) {
      if (const auto hold = linger(); hold.count() > 0) {
        holding_ = true;
        action.hold_until = FlushTimer::Clock::now() + hold;
      }
    }
    return action;
  }
  if (state_ == State::closing) {
    // The stream's last write has started: nothing is left to send together.
    action.release = std::exchange(holding_, false);
    state_ = State::finished;
    action.finish = ending_->reason;
  }
  return action;
}

void Subscriber::tell_write_stuck_locked() {
  // An open stream, the one every write starts on, stops at the first test.
  if (state_ != State::closing || told_write_stuck_) {
    return;
  }
  // A stream its client ended itself (a half-close) drains for as long as
  // the client reads, however slowly: it asked for what is queued.
  if (drain_ && ending_->reason.code == CloseCode::ok) {
    return;
  }
  told_write_stuck_ = true;
  sink_.write_stuck_after_close(drain_);
}

bool Subscriber::worth_writing_now_locked() const {
  // Waiting gains nothing once a whole batch is there, and must never be
  // what makes a stream a slow consumer.
  const std::size_t live_frames = queue_.size() - replay_frames_;
  const std::size_t live_bytes = queued_bytes_ - replay_bytes_;
  return queue_.size() >= batching_.max_frames || queued_bytes_ >= batching_.max_bytes ||
         live_frames * 2 >= limits_.max_frames || live_bytes * 2 >= limits_.max_bytes;
}

void Subscriber::run(Action action) {
  if (action.flush_at) {
    auto self = weak_from_this();
    if (self.expired()) {
      flush_due();  // not owned by a shared_ptr: nothing could call it later
      return;
    }
    timer_->schedule(std::move(self), *action.flush_at);
  } else if (action.write) {
    if (action.hold_until) {
      hold_connection(*action.hold_until);
    }
    if (current_group != nullptr && current_group->connection == connection_.get() &&
        !current_group->tried) {
      current_group->tried = true;
      current_group->held = connection_->hold();
    }
    sink_.start_write(in_flight_, action.more_follows);
  } else if (action.finish) {
    sink_.finish(*action.finish);
  }
  if (action.release) {
    connection_->release();
  }
}

bool Subscriber::answer_queued_locked() const {
  return std::any_of(queue_.begin(), queue_.end(),
                     [](const Queued& queued) { return queued.answer; });
}

void Subscriber::hold_connection(FlushTimer::Clock::time_point until) {
  // The release is scheduled only once the hold is in force, so that it can
  // never come first and leave the connection held with no one to release
  // it. A connection that another stream holds already needs no second hold.
  auto self = weak_from_this();
  if (!self.expired() && !connection_->held() && connection_->hold()) {
    timer_->schedule(std::move(self), until);
    return;
  }
  std::lock_guard lock(mutex_);
  holding_ = false;
}

void start_writes_by_connection(
    std::vector<std::shared_ptr<Subscriber>>& subscribers,
    const std::function<void(const std::shared_ptr<Subscriber>&)>& start) {
  if (subscribers.size() < kMinHeldWrites) {
    std::for_each(subscribers.begin(), subscribers.end(), start);
    return;
  }
  using Ptr = std::shared_ptr<Subscriber>;
  std::sort(subscribers.begin(), subscribers.end(), [](const Ptr& a, const Ptr& b) {
    return std::less<>{}(a->connection(), b->connection());
  });
  for (auto begin = subscribers.begin(); begin != subscribers.end();) {
    SharedConnection* connection = (*begin)->connection();
    const auto end = std::find_if(begin, subscribers.end(), [connection](const Ptr& subscriber) {
      return subscriber->connection() != connection;
    });
    const auto count = static_cast<std::size_t>(end - begin);
    const std::size_t chunks = (count + kMaxHeldWrites - 1) / kMaxHeldWrites;
    for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
      const auto chunk_begin = begin + static_cast<std::ptrdiff_t>(count * chunk / chunks);
      const auto chunk_end = begin + static_cast<std::ptrdiff_t>(count * (chunk + 1) / chunks);
      WriteGroup group;
      if (connection != nullptr &&
          static_cast<std::size_t>(chunk_end - chunk_begin) >= kMinHeldWrites) {
        group.connection = connection;
        current_group = &group;
      }
      std::for_each(chunk_begin, chunk_end, start);
      current_group = nullptr;
      if (group.held) {
        connection->release();
      }
    }
    begin = end;
  }
}

}  // namespace relay::hub
