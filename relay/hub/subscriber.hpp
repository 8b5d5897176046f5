#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/circular_buffer.hpp>

#include "relay/hub/adaptive_linger.hpp"
#include "relay/hub/flush_timer.hpp"
#include "relay/hub/frame.hpp"
#include "relay/hub/write_turns.hpp"

namespace relay::hub {

class SubscriberStats;

// Why a subscriber's stream ends. The service maps these to gRPC status codes.
enum class CloseCode {
  ok,
  cancelled,
  invalid_argument,
  resource_exhausted,
  unavailable,
  unauthenticated
};

struct CloseReason {
  CloseCode code = CloseCode::ok;
  std::string message;
};

// The transport end of a subscriber: a gRPC reactor in the relay, a recorder
// in the tests. The Subscriber guarantees that at most one start_write is
// outstanding, that finish is called exactly once, and that neither is called
// after finish or while the Subscriber's own lock is held. Other threads may
// hold the Subscriber after it left every room, so the sink must stay alive
// until finish has been called (a gRPC reactor does: it dies in OnDone).
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Writes the frames, in order, as one write (one frame unless the
  // Subscriber was made with WriteBatching). The span is only valid during the
  // call: the sink must be done with it before the write can complete. The
  // sink must call Subscriber::on_write_done when the write completes.
  // `more_follows`: frames are queued behind these, and the Subscriber starts
  // their write as soon as this one completes, so the transport may keep
  // this one back until then (see Action::more_follows).
  virtual void start_write(std::span<const FramePtr> frames, bool more_follows) = 0;
  virtual void finish(const CloseReason& reason) = 0;
  // The stream was closed while a write is still in flight (or, `draining`,
  // while frames are left to write), so finish waits for that write; a peer
  // that stopped reading never completes it, and the sink should cancel the
  // stream if it has not finished within a grace. Called once per stream,
  // and not for a draining close with CloseCode::ok (the client's own end).
  // The one call made with the Subscriber's lock held: only that lock proves
  // the sink alive here (finish has not been called, so OnDone cannot have
  // run), so it must only arm a timer, never block or call back into the
  // Subscriber.
  virtual void write_stuck_after_close(bool /*draining*/) {}
};

// The connection that a subscriber's stream shares with other streams (a
// gateway's or a bot's many streams over one TCP connection), so that a
// fan-out can write to all of them at once. gRPC C++ 1.51 sends each write of
// an idle connection with a `sendmsg` of its own, and on loopback most of
// that call's cost is the transmit and receive path of its own TCP segment
// (a third of the relay's CPU in relay-bench latency, bench/PROFILE.md): held
// between hold() and release(), the writes of many streams leave in as few
// segments as their bytes need. Holds nest: the connection is released when
// every hold() that returned true has been matched by a release(), which any
// thread may call.
class SharedConnection {
 public:
  virtual ~SharedConnection() = default;
  // False when the connection cannot be held (not known yet, or gone).
  virtual bool hold() = 0;
  virtual void release() = 0;
  // Whether some hold is in force.
  virtual bool held() const = 0;
  // Whether more than one stream writes to it.
  virtual bool shared() const = 0;
};

// Live frames and the replay of joins are bounded apart: resuming a room
// may queue its whole history without counting against the live limits,
// but replay in all is bounded by one history per room the stream is in
// (plus the one it is joining), so a client that joins again and again
// without reading still meets a bound.
struct QueueLimits {
  std::size_t max_frames = 4096;
  std::size_t max_bytes = 8 * 1024 * 1024;
  std::size_t max_replay_frames_per_room = 1001;
  std::size_t max_replay_bytes_per_room = 8 * 1024 * 1024 + 4096;
};

// How many queued frames one write may carry. A subscriber that is keeping up
// has at most one frame queued when its write completes, so batching only
// ever joins frames that were already waiting: it saves writes under load
// and adds no delay when idle. The byte bound keeps a batch within what a
// client accepts as one message (a single larger frame still goes alone).
//
// With a linger, a batching stream also starts at most one write per linger:
// a frame that finds the stream's last write started less than a linger ago
// waits out the rest of it, so that the frames of a busy stream go out
// together. Each write costs gRPC several microseconds however small it is,
// so under load this trades at most a linger of delay for far fewer writes,
// while a stream that has been quiet for a linger writes at once. A stream
// that has a whole batch queued, or half its queue limits, writes at once too.
// The linger is the hub's AdaptiveLinger, which grows while the relay is
// saturated; the subscriber reports how long its lingering writes take.
struct WriteBatching {
  // 32 bits, as every stream keeps a copy: a batch is bounded by what one
  // gRPC message carries (relay::service::write_batching).
  std::uint32_t max_frames = 1;
  std::uint32_t max_bytes = 0;
  AdaptiveLinger* linger = nullptr;  // none: no linger
  WriteTurns* turns = nullptr;       // none: a backlog writes without turns
};

enum class SubscriberKind : std::uint8_t { chat, follow };

// One open stream as the hub sees it: a bounded outbound queue with exactly
// one write in flight behind it.
//
// Rooms push frames from any publishing thread while holding their own lock,
// so pushing must never call into gRPC: enqueue only queues, and returns
// whether the caller must call flush() once it has released its locks. A
// subscriber that overflows its queue is a slow consumer: its queue is dropped
// and its stream finished with RESOURCE_EXHAUSTED, while everyone else goes on.
class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  // A linger needs the timer, and a Subscriber owned by a shared_ptr; the
  // timer, and the stats it counts itself in, must outlive the Subscriber.
  Subscriber(std::uint64_t id, std::string user, SubscriberKind kind, QueueLimits limits,
             FrameSink& sink, WriteBatching batching = {}, FlushTimer* timer = nullptr,
             std::shared_ptr<SharedConnection> connection = nullptr,
             SubscriberStats* stats = nullptr);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  std::uint64_t id() const { return id_; }
  const std::string& user() const { return user_; }
  SubscriberKind kind() const { return kind_; }
  // The connection its stream shares with others, if the sink said which.
  SharedConnection* connection() const { return connection_.get(); }

  // Queues a frame, live or part of a join's replay (see QueueLimits).
  // Returns true when flush() is needed, which is also the case when this
  // frame made the subscriber a slow consumer.
  [[nodiscard]] bool enqueue(FramePtr frame, bool replay = false);
  // Queues an answer to the stream's own client (an ack, a refusal), which
  // may be waiting for it before it sends more: its write ends a hold of the
  // connection instead of waiting out the hold, and it is never put off (see
  // holds_while_saturated, defers_while_saturated).
  [[nodiscard]] bool enqueue_answer(FramePtr frame);

  // Starts the next write if none is in flight, or finishes a closing stream.
  // Returns whether the subscriber is closing (it then belongs in no room).
  bool flush();

  // The flush a linger put off, run by the FlushTimer when it is due; also
  // the watch of WriteTurns (WriteTurns::Watch).
  void flush_due();

  // Its turn came (WriteTurns): starts the write that waited for it.
  void start_turn(bool more_follows);

  // Called by the sink when its write completed; ok=false means the stream is
  // broken and the rest of the queue is dropped.
  void on_write_done(bool ok);

  // Ends the stream. With drain, what is queued is still written first;
  // without, it is dropped. The first close wins.
  // False if the stream was closing already, and this changed nothing.
  bool close(CloseReason reason, bool drain);

  // True once close() was called or the queue overflowed.
  bool closing() const;
  // The rooms the hub has this subscriber in, so that a closed subscriber
  // can leave all of them at once. A room records itself under its own lock
  // as it registers the subscriber, and only while the subscriber is open:
  // a close then either comes first and refuses the join, or comes after and
  // finds the room in rooms(), never in between.
  [[nodiscard]] bool add_room_if_open(const std::string& room);
  void remove_room(const std::string& room);
  std::vector<std::string> rooms() const;
  // What a stream's reactor asks of the rooms it joined: the list is kept
  // here only, once per stream.
  bool in_room(const std::string& room) const;
  std::size_t room_count() const;

  // Frames and bytes queued, not counting the write in flight.
  std::size_t queued_frames() const;
  // Frames the queue has room for without allocating: what it holds while idle.
  std::size_t queue_slots() const;
  // Gives back the room for frames (the ring, the in-flight vector) if the
  // stream has started no write since the last call and has nothing queued;
  // true if it gave any. Called at every sweep (Hub::sweep: every
  // --room-idle-ttl-ms / 4, from 100 ms to 10 s), so that an idle stream,
  // most of what a chat relay holds, keeps none of it (up to 800 bytes once a
  // burst grew its ring), while a busy one allocates nothing between sweeps:
  // giving it back each time a stream caught up cost the latency scenario
  // 6 % CPU (bench/PROFILE.md, fourteenth session).
  bool trim_if_idle();
  std::size_t queued_bytes() const;

 private:
  enum class State : std::uint8_t { open, closing, finished };
  // Decides, under the lock, the one sink call to make after releasing it.
  struct Action {
    bool write = false;  // of in_flight_
    std::optional<CloseReason> finish;
    std::optional<FlushTimer::Clock::time_point> flush_at;
    // Hold the connection for the write, until then (see holds_while_saturated).
    std::optional<FlushTimer::Clock::time_point> hold_until;
    bool release = false;  // of the connection's hold
    // A stream that does not batch writes a backlog one frame per gRPC
    // write. Each write but the backlog's last may then wait in gRPC's
    // transport (its buffer hint, up to 64 KB a stream) for the next, so
    // that the backlog leaves in one transport write and one sendmsg
    // instead of one each; the write that does not say so sends them all.
    // Never for an answer, which its client may be waiting for, nor for more
    // than kMaxKeptBackWrites writes in a row.
    bool more_follows = false;
  };
  struct Overflow {
    std::size_t frames;
    std::size_t bytes;
  };
  // `due`: a lingering flush whose time has come.
  Action next_action_locked(bool due = false);
  std::chrono::microseconds linger() const {
    return batching_.linger != nullptr ? batching_.linger->current() : std::chrono::microseconds(0);
  }
  bool batches() const { return batching_.max_frames > 1; }
  bool timed() const { return batches() && timer_ != nullptr && batching_.linger != nullptr; }
  // A stream that does not batch, on a relay that lingers: it either holds
  // its connection or puts its frames off while saturated (below).
  bool plain_and_lingering() const {
    return !batches() && timer_ != nullptr && batching_.linger != nullptr;
  }
  // A stream that does not batch cannot join its frames into one write. On
  // a connection it shares, while the relay is saturated, it holds the
  // connection for as long as a batching stream would linger: every frame is
  // written at once, and the kernel sends what all its streams wrote
  // meanwhile at the release, which the FlushTimer makes for many
  // connections together. That spares a saturated relay a third of its CPU
  // per delivery (bench/PROFILE.md, 2026-12-06).
  bool holds_while_saturated() const {
    return plain_and_lingering() && connection_ != nullptr && connection_->shared();
  }
  // On a connection of its own, a frame written the moment it comes finds
  // the queue empty, and has a transport write and a sendmsg of its own: the
  // queue was empty behind every write of a saturated relay. So, while the
  // relay is saturated, such a stream puts its next frames off for a linger
  // once it has written, as a batching stream does, and sends them as a
  // backlog whose writes but the last wait in gRPC's transport
  // (more_follows). An answer to its own client is never put off
  // (bench/PROFILE.md, seventh session).
  bool defers_while_saturated() const {
    return plain_and_lingering() && (connection_ == nullptr || !connection_->shared());
  }
  // Whether an answer waits in the queue; it is short when this is asked.
  bool answer_queued_locked() const;
  void hold_connection(FlushTimer::Clock::time_point until);
  // Whether the queue is too full for a linger to wait any longer.
  bool worth_writing_now_locked() const;
  // Once a closed stream waits for a write, tells the sink so, once.
  void tell_write_stuck_locked();
  void clear_queue_locked();
  void run(Action action);
  // run() for what a write's completion decided, where the backlog's next
  // write takes a turn (WriteTurns).
  void run_backlog(Action action);

  const std::uint64_t id_;
  const std::string user_;
  const QueueLimits limits_;
  const WriteBatching batching_;
  FrameSink& sink_;
  FlushTimer* const timer_;
  const std::shared_ptr<SharedConnection> connection_;
  SubscriberStats* const stats_;

  mutable std::mutex mutex_;
  struct Queued {
    FramePtr frame;
    bool replay;
    bool answer;
  };
  bool enqueue(FramePtr frame, bool replay, bool answer);
  // A ring that doubles when full (Subscriber::push_locked): it allocates
  // nothing until its first frame, nor once it holds the stream's usual
  // depth (up to 32 frames). libstdc++'s deque takes 512 bytes and a map
  // from its construction on, 330 bytes more for every idle stream; a deque
  // of small blocks allocated and freed a block every 8 frames, 2-3 % of the
  // relay's CPU in rooms (bench/PROFILE.md).
  using Queue = boost::circular_buffer<Queued>;
  void push_locked(Queued queued);
  void pop_front_locked();
  Queue queue_;                    // guarded by mutex_
  std::size_t queued_bytes_ = 0;   // all of queue_; guarded by mutex_
  std::size_t replay_frames_ = 0;  // the replay part; guarded by mutex_
  std::size_t replay_bytes_ = 0;   // guarded by mutex_
  // The frames of the write in flight. Filled under the lock, then read by
  // the sink without it: no one else touches it until that write completes
  // (trim_if_idle gives its storage back only with no write in flight).
  std::vector<FramePtr> in_flight_;
  std::size_t in_flight_bytes_ = 0;                   // guarded by mutex_
  FlushTimer::Clock::time_point last_write_started_;  // guarded by mutex_; when timed()
  // The flags side by side, so that they share their padding.
  bool write_in_flight_ = false;  // guarded by mutex_
  // The write in flight started at last_write_started_.
  bool timing_write_ = false;      // guarded by mutex_
  bool answer_in_flight_ = false;  // guarded by mutex_
  bool flush_scheduled_ = false;   // guarded by mutex_
  bool drain_ = true;              // guarded by mutex_
  bool told_write_stuck_ = false;  // guarded by mutex_
  // A hold of connection_ is in force, or about to be, with its release
  // scheduled with the timer (holds_while_saturated).
  bool holding_ = false;           // guarded by mutex_
  bool wrote_since_trim_ = false;  // guarded by mutex_
  State state_ = State::open;      // guarded by mutex_
  const SubscriberKind kind_;
  // Writes in a row started with more_follows.
  std::size_t kept_back_ = 0;  // guarded by mutex_
  WriteTurns::Seat turn_;      // guarded by WriteTurns' lock
  // Why the stream ends: made as it leaves State::open (never null after),
  // so that an open stream, most of what a relay holds, keeps 8 bytes for
  // it instead of 64.
  struct Ending {
    CloseReason reason;
    // What the queue held when it overflowed, for flush() to log once no
    // lock is held: enqueue runs under the room's lock.
    std::optional<Overflow> overflowed;
  };
  std::unique_ptr<Ending> ending_;  // guarded by mutex_
  std::vector<std::string> rooms_;  // guarded by mutex_
};

// Calls start on each subscriber, which may start a write of each; those of
// the subscribers that share a connection are started while it is held (see
// SharedConnection), when there are enough of them to be worth it, a few
// dozen at a time. Reorders
// the subscribers: which stream is written first does not matter, as each
// keeps its own order.
void start_writes_by_connection(
    std::vector<std::shared_ptr<Subscriber>>& subscribers,
    const std::function<void(const std::shared_ptr<Subscriber>&)>& start);

}  // namespace relay::hub
