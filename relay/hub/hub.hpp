#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/hub/clock.hpp"
#include "relay/hub/room.hpp"
#include "relay/hub/subscriber_stats.hpp"

namespace relay::hub {

struct HubLimits {
  RoomLimits room;
  QueueLimits queue;
  std::int64_t room_idle_ttl_us = 5LL * 60 * 1000 * 1000;
  // Rooms the relay holds at most: each may keep a whole history, so a client
  // naming new rooms without end must meet a bound.
  std::size_t max_rooms = 10000;
  // Bytes all rooms' histories hold together at most; 0: no such bound.
  // Each history is bounded by room.history, but max_rooms of them could
  // still hold far more than the relay's memory. Past it, the oldest
  // messages of all rooms go first, down to 90% of it.
  std::size_t history_total_max_bytes = 0;
  // Messages older than this leave the histories at the next sweep; 0: never.
  std::int64_t history_max_age_us = 0;
  // For subscribers that take batches (see WriteBatching::linger): the
  // linger, and the most it stretches to while the relay is saturated
  // (see AdaptiveLinger; no less than write_linger).
  std::chrono::microseconds write_linger{0};
  std::chrono::microseconds max_write_linger{0};
  // Set when a backplane numbers the rooms (see Hub::append): a room whose
  // history holds messages then stays while its messages are in the broker,
  // since the relay learns of a room's messages only as they arrive.
  bool keep_numbered_rooms = false;
};

// Asked, with a shard's lock held, before a join or publish creates a room:
// false refuses the creation (a per-user limit). Must be quick and call
// nothing that takes a hub lock. An empty gate allows every creation. The
// hub asks it only during the call that takes it, and keeps no copy.
using CreateGate = std::function<bool()>;

// Counters for the degraded modes and the traffic, read by tests and logs.
struct HubStats {
  std::size_t rooms = 0;  // held now; the others count since the start
  std::uint64_t rooms_created = 0;
  std::uint64_t rooms_removed = 0;
  // Of rooms_removed: those whose last leave left them with no message ever published.
  std::uint64_t rooms_removed_when_left_empty = 0;
  std::uint64_t messages_published = 0;
  std::uint64_t duplicates_acknowledged = 0;
  std::size_t history_bytes = 0;  // held now by all histories
  std::uint64_t messages_evicted_by_history_budget = 0;
  std::uint64_t messages_expired_by_age = 0;
};

// The rooms of one relay. Rooms are created on first join or publish. A room
// that the last leave leaves empty, never published to, is removed at once,
// so that joining and leaving new names without end cannot fill max_rooms;
// one that had messages is removed by sweep() once nobody has been in it for
// room_idle_ttl_us (its numbering and duplicate window must outlive a
// reconnect, even when the history budget emptied its history). The map is sharded by room name,
// each shard under its own lock, so publishes to different rooms share no lock at all; a shard's
// lock is held only to find or change the map, never while a room works, and a room's work is under
// that room's own lock.
class Hub {
 public:
  Hub(HubLimits limits, FrameEncoder& encoder, Clock clock = system_now);
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  SubscriberPtr make_subscriber(std::string user, SubscriberKind kind, FrameSink& sink,
                                WriteBatching batching = {},
                                std::shared_ptr<SharedConnection> connection = nullptr);

  JoinOutcome join(const std::string& room, const SubscriberPtr& subscriber,
                   const JoinOptions& options, const CreateGate& may_create = {});
  // Returns false when the subscriber was not in the room.
  bool leave(const std::string& room, const SubscriberPtr& subscriber);
  PublishResult publish(const std::string& room, PublishRequest request,
                        const CreateGate& may_create = {});
  // For a backplane that orders messages itself: delivers `message` (its
  // room, epoch and proposed sequence set) as Room::append says, creating the
  // room if need be, and returns the position it took. The room was admitted
  // by the relay where it was published, so max_rooms does not refuse it here.
  Position append(Message message);
  // The place an earlier publish of (sender, id) got, if its room remembers it.
  std::optional<PublishResult> find_duplicate(const std::string& room, const std::string& sender,
                                              const std::string& client_message_id);
  // Members of the room on another relay (see Room::set_remote_members); the
  // room is made if need be, as another relay's member keeps it alive here.
  void set_remote_members(const std::string& room, const std::string& relay, UserStreams users);
  // Every room with chat streams on this relay, and those streams per user.
  std::vector<std::pair<std::string, UserStreams>> local_members() const;
  std::optional<UserStreams> local_members(const std::string& room) const;
  // Called, outside any lock, with a room whose chat streams on this relay
  // changed: for a backplane that tells other relays. Set before any join.
  void on_local_members_changed(std::function<void(const std::string& room)> listener) {
    members_changed_ = std::move(listener);
  }
  // Creates the room unless it exists, as a publish would (max_rooms and the
  // gate), without numbering anything: for a backplane about to publish to it.
  PublishResult admit_room(const std::string& room, const CreateGate& may_create);

  // While one exists on a thread, the writes that this thread's calls of the
  // hub would start wait until the last one ends, which starts them all.
  // The reactors of Chat and PublishBatch hold one from reading a message
  // until they have asked for the next: a publish that has already arrived
  // behind this one is then read while this one's writes are in flight, and
  // its frames queue behind them and leave together in the next write, as a
  // relay that keeps up has no need to, but one that falls behind does.
  // Without it, the next publish waits unread behind every completion of
  // this one's fan-out, each stream's next write finds one frame, and a relay
  // near its limit stays there at its dearest cost per frame
  // (bench/PROFILE.md, eleventh session: fanout with a connection per
  // subscriber 1.77x the deliveries).
  class DeferredWrites {
   public:
    explicit DeferredWrites(Hub& hub);
    DeferredWrites(const DeferredWrites&) = delete;
    DeferredWrites& operator=(const DeferredWrites&) = delete;
    ~DeferredWrites();

   private:
    Hub& hub_;
  };

  // Takes a stream out of every room it is in: for a caller that saw
  // Subscriber::flush() return true (the stream is closing) after queueing a
  // frame of its own, outside any room.
  void remove_from_rooms(const SubscriberPtr& subscriber);

  std::vector<RoomInfo> list_rooms() const;
  std::optional<HistoryPage> history(const std::string& room, std::uint64_t after,
                                     std::size_t limit) const;
  std::optional<Members> members(const std::string& room) const;

  // Gives back the queue room of streams idle since the last sweep, drops
  // messages older than history_max_age_us, then removes idle empty rooms;
  // returns how many rooms. The relay calls it on a timer.
  std::size_t sweep();

  HubStats stats() const;
  // The streams' counters, summed now.
  SubscriberStats::Snapshot subscriber_stats() const { return subscriber_stats_.snapshot(); }

 private:
  // Flushes the subscribers a room call left in `flush`, then takes the
  // closed ones (slow consumers, mostly) out of every room they are in;
  // while this thread defers its writes, leaves them in `flush` for the
  // DeferredWrites that ends last.
  void settle(FlushList& flush);
  std::shared_ptr<Room> find(const std::string& room) const;
  struct Found {
    std::shared_ptr<Room> room;  // null when refused
    bool creation_refused = false;
  };
  // The room, created if need be: refused when the hub is at max_rooms or
  // the gate says no.
  Found find_or_create(const std::string& room, const CreateGate& may_create,
                       bool within_max_rooms = true);
  std::vector<std::shared_ptr<Room>> all_rooms() const;
  // Evicts the oldest messages of all rooms while history_bytes_ is above
  // history_total_max_bytes, unless another thread is at it already.
  void enforce_history_budget();
  // Erases a room that marked itself removed, unless the map holds another
  // room of that name by now (or none). Whoever finds such a room may call
  // it: only the call that erases it counts it.
  void erase_removed(const std::shared_ptr<Room>& room);
  // The same for a room that marked itself removed as it was left empty,
  // never published to; counted apart.
  void erase_left_empty(const std::shared_ptr<Room>& room);

  // First, so that it outlives every subscriber the hub made: each counts
  // itself out of it as it goes.
  SubscriberStats subscriber_stats_;
  const HubLimits limits_;
  FrameEncoder& encoder_;
  const Clock clock_;
  // Each room's epoch is unique across rooms and restarts: the start time plus
  // a counter, so a recreated room never continues an old numbering.
  const std::uint64_t epoch_base_;
  std::atomic<std::uint64_t> next_epoch_offset_{0};
  std::atomic<std::uint64_t> next_subscriber_id_{1};

  struct Shard {
    mutable std::shared_mutex mutex;
    std::unordered_map<std::string, std::shared_ptr<Room>> rooms;  // guarded by mutex
  };
  static constexpr std::size_t kShards = 64;
  Shard& shard_of(const std::string& room) const;
  // Takes one of max_rooms' places; false when none is left.
  bool reserve_room();

  // Before shards_, so that it outlives the rooms' histories, which count
  // themselves out of it as they go.
  std::atomic<std::size_t> history_bytes_{0};
  // One thread trims at a time; the others go on publishing.
  std::atomic<bool> trimming_history_{false};

  mutable std::array<Shard, kShards> shards_;
  // Rooms in all shards, counted apart so that max_rooms holds exactly.
  std::atomic<std::size_t> room_count_{0};

  std::atomic<std::uint64_t> rooms_created_{0};
  std::atomic<std::uint64_t> rooms_removed_{0};
  std::atomic<std::uint64_t> rooms_removed_when_left_empty_{0};
  std::atomic<std::uint64_t> messages_published_{0};
  std::atomic<std::uint64_t> duplicates_acknowledged_{0};
  std::atomic<std::uint64_t> messages_evicted_by_history_budget_{0};
  std::atomic<std::uint64_t> messages_expired_by_age_{0};

  std::function<void(const std::string& room)> members_changed_;

  AdaptiveLinger linger_;
  WriteTurns write_turns_;
  // Declared last, so destroyed first: its thread stops before the rooms and
  // their subscribers go.
  FlushTimer flush_timer_;
};

}  // namespace relay::hub
