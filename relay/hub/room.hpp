#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "relay/hub/clock.hpp"
#include "relay/hub/duplicate_window.hpp"
#include "relay/hub/frame.hpp"
#include "relay/hub/history.hpp"
#include "relay/hub/subscriber.hpp"

namespace relay::hub {

using SubscriberPtr = std::shared_ptr<Subscriber>;
// Subscribers whose queue went from idle to busy while a room's lock was held:
// the caller flushes them once it holds no lock, so no lock is ever held
// across a call into gRPC.
using FlushList = std::vector<SubscriberPtr>;

struct RoomLimits {
  HistoryLimits history;
  DuplicateWindowLimits duplicates;
};

// subscriber_closed: the stream is ending and joins nothing more.
enum class JoinStatus {
  joined,
  room_removed,
  already_joined,
  resume_ahead,
  subscriber_closed,
  too_many_rooms,
  // The room did not exist and the caller may not create one now.
  creation_refused
};

// left_and_removed: the leave left the room with no subscriber, and nobody
// ever published to it, so the room marked itself removed and the hub must
// erase it: such a room costs a place of max_rooms and keeps nothing worth a
// wait.
enum class LeaveStatus { not_joined, left, left_and_removed };

// What a stream asks for when it joins a room.
struct JoinOptions {
  // Where to resume; none: live from now, no replay.
  std::optional<Position> resume = std::nullopt;
  // Whether the stream receives the room's presence frames (who joins and
  // leaves). Off by default: a join then costs the room nothing per member.
  bool presence = false;
};

struct JoinOutcome {
  JoinStatus status = JoinStatus::joined;
  JoinSummary summary;
};

struct PublishRequest {
  std::string sender;
  std::string client_message_id;
  std::string body;
};

struct PublishResult {
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
  bool duplicate = false;
  // The room did not exist and the relay holds as many rooms as it may.
  bool too_many_rooms = false;
  // The room did not exist and the caller may not create one now.
  bool creation_refused = false;
  // The backplane could not order the message (its broker is out of reach):
  // nothing was stored, and the client should send it again later.
  bool unavailable = false;
};

struct RoomInfo {
  std::string room;
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
  std::size_t subscribers = 0;
  std::size_t history_messages = 0;
};

struct HistoryPage {
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
  std::vector<StoredMessagePtr> messages;
  std::uint64_t missed = 0;
};

// What Room::evict_oldest_message did, and when the oldest message the room
// holds after it was published, on the steady clock (none when its history
// is empty).
struct Eviction {
  bool evicted = false;
  std::optional<std::int64_t> oldest_published_us;
};

// Chat streams per user.
using UserStreams = std::unordered_map<std::string, std::size_t>;

struct MemberInfo {
  std::string user;
  std::size_t streams = 0;
};

struct Members {
  std::vector<MemberInfo> members;  // sorted by user
  std::size_t followers = 0;
};

// One room: its sequence counter, history, duplicate window and subscribers,
// all under one lock. Sequence order is publish order, and each subscriber's
// queue receives frames in that order because they are queued under the lock.
// A room removed from the hub refuses joins and publishes (the caller retries
// with the room the hub holds now).
//
// Joins and leaves cost the room O(1) plus one queued frame per subscriber
// that asked for presence, whatever the number of members: a storm of joins
// into a large room would otherwise queue a frame for every member at every
// join (10,000 joins into rooms of 100 members: 500,000 frames).
class Room {
 public:
  // `history_bytes` counts the bytes of every room's history (see History).
  Room(std::string name, std::uint64_t epoch, RoomLimits limits, FrameEncoder& encoder,
       std::atomic<std::size_t>& history_bytes, std::int64_t steady_us);
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  const std::string& name() const { return name_; }

  // Registers the subscriber and queues the join answer, then the replay after
  // `options.resume`, all under the lock so that live messages follow with no
  // gap and no duplicate.
  JoinOutcome join(const SubscriberPtr& subscriber, const JoinOptions& options, FlushList& flush);
  LeaveStatus leave(const SubscriberPtr& subscriber, std::int64_t steady_us, FlushList& flush);

  // nullopt when the room was removed, and then `request` is left as it was;
  // the message takes its strings only when it is published.
  std::optional<PublishResult> publish(PublishRequest&& request, HubTime now, FlushList& flush);

  // For a backplane that orders messages itself (NATS JetStream): delivers
  // and keeps `message`, which comes in the broker's order with the position
  // its publisher proposed, and returns the position it takes: the proposed
  // one, or the room's next when the proposal is taken already (a broker that
  // let two publishes claim one place; redeliveries are the caller's to drop).
  // A proposal beyond the next means the broker no longer holds the messages
  // in between: the history starts again there, and joins count them missed.
  // A message of another epoch starts the numbering afresh, and a room nobody
  // published to yet takes the message's epoch. Nothing when removed.
  std::optional<Position> append(Message&& message, HubTime now, FlushList& flush);
  // The position a resend of (sender, id) got, if the room remembers it.
  std::optional<PublishResult> find_duplicate(const std::string& sender, const std::string& id,
                                              std::int64_t steady_us);

  // This relay's own members: chat streams per user.
  UserStreams local_members() const;
  // The room's members on another relay, as that relay last said (empty: none
  // there). A room's members are those of every relay: a user joins when
  // the first relay has them and leaves when the last one no longer does,
  // and presence frames say so here. Followers stay each relay's own. False
  // when the room was removed, and then `users` is left as it was.
  bool set_remote_members(const std::string& relay, UserStreams& users, FlushList& flush);

  RoomInfo info() const;
  HistoryPage history(std::uint64_t after, std::size_t limit) const;
  Members members() const;
  std::vector<SubscriberPtr> subscribers() const;

  // When the oldest message of the history was published (steady clock).
  std::optional<std::int64_t> oldest_published_us() const;
  // Drops the oldest message of the history, for the relay-wide budget, if it
  // was published no later than `not_after_us` (steady clock): the caller's
  // view of this room was taken earlier and may be stale. Joins count the
  // message as missed from then on.
  Eviction evict_oldest_message(std::int64_t not_after_us);

  // Marks the room removed if nobody is in it and nobody ever published to
  // it, as a last leave does; returns whether this call did. A room that had
  // messages stays until the idle sweep even if the history budget emptied
  // it, so that its numbering and duplicate window outlive a reconnect.
  bool remove_if_unused();
  // Marks the room removed if nobody has been in it nor published to it for
  // idle_ttl_us, unless `keep_numbered` and its history holds messages, or
  // its duplicate window still remembers an id: a resend after a long
  // outage must be recognised for the whole window, not only the TTL.
  // Returns whether it is removed.
  bool remove_if_idle(std::int64_t steady_us, std::int64_t idle_ttl_us, bool keep_numbered);

 private:
  // Where a subscriber sits in subscribers_ and, when it asked for
  // presence, in presence_subscribers_. 32 bits each: a room's subscribers
  // are streams of this process, far fewer than 2^32, and the seat's map
  // node is then 24 bytes, not 40 (one per member).
  struct Seat {
    static constexpr std::uint32_t kNoPresence = UINT32_MAX;
    std::uint32_t index = 0;
    std::uint32_t presence_index = kNoPresence;
  };
  // Takes a subscriber out of subscribers_ and presence_subscribers_ by
  // moving the last one into its place.
  void unseat_locked(const Seat& seat);
  // See remove_if_unused.
  bool mark_removed_if_unused_locked();
  void announce_locked(const std::string& user, PresenceKind kind, FlushList& flush);
  // A member here or on another relay.
  bool member_locked(const std::string& user) const;
  // Distinct users here and on other relays.
  std::size_t member_count_locked() const;
  // Serializes the message once, queues it to every subscriber, keeps it.
  // `published_steady_us`: when it was published, on this relay's steady
  // clock, for the duplicate window and the history's age limit and budget.
  void deliver_locked(Message&& message, std::int64_t published_steady_us, FlushList& flush);

  const std::string name_;
  FrameEncoder& encoder_;

  mutable std::mutex mutex_;
  // Fixed by the hub, unless a backplane numbers the room (see append).
  std::uint64_t epoch_;                       // guarded by mutex_
  std::uint64_t sequence_ = 0;                // guarded by mutex_
  History history_;                           // guarded by mutex_
  DuplicateWindow duplicates_;                // guarded by mutex_
  std::int64_t last_activity_steady_us_ = 0;  // guarded by mutex_
  bool removed_ = false;                      // guarded by mutex_
  // Every subscriber, in no particular order: messages go to all of them.
  std::vector<SubscriberPtr> subscribers_;  // guarded by mutex_
  // Those that asked for presence frames: the only ones a join or leave
  // costs. Guarded by mutex_, as are the two maps below.
  std::vector<SubscriberPtr> presence_subscribers_;
  std::unordered_map<const Subscriber*, Seat> seats_;
  // Chat streams per user in the room, on this relay.
  UserStreams chat_streams_of_;
  // The same for other relays (see set_remote_members), and for each user
  // there how many relays have them: the room's members are the users of
  // both maps.
  std::unordered_map<std::string, UserStreams> remote_;
  std::unordered_map<std::string, std::size_t> remote_relays_of_;
};

}  // namespace relay::hub
