#include "relay/hub/room.hpp"

#include <algorithm>
#include <utility>

namespace relay::hub {
namespace {

void queue_to(const SubscriberPtr& subscriber, const FramePtr& frame, FlushList& flush,
              bool bypass_limits = false) {
  if (subscriber->enqueue(frame, bypass_limits)) {
    flush.push_back(subscriber);
  }
}

}  // namespace

Room::Room(std::string name, std::uint64_t epoch, RoomLimits limits, FrameEncoder& encoder,
           std::atomic<std::size_t>& history_bytes, std::int64_t steady_us)
    : name_(std::move(name)),
      encoder_(encoder),
      epoch_(epoch),
      history_(limits.history, history_bytes),
      duplicates_(limits.duplicates),
      last_activity_steady_us_(steady_us) {}

JoinOutcome Room::join(const SubscriberPtr& subscriber, const JoinOptions& options,
                       FlushList& flush) {
  JoinOutcome outcome;
  std::lock_guard lock(mutex_);
  if (removed_) {
    outcome.status = JoinStatus::room_removed;
    return outcome;
  }
  if (seats_.contains(subscriber.get())) {
    outcome.status = JoinStatus::already_joined;
    return outcome;
  }
  const bool chat = subscriber->kind() == SubscriberKind::chat;
  const bool first_of_user = chat && !member_locked(subscriber->user());
  JoinSummary& summary = outcome.summary;
  summary.room = name_;
  summary.epoch = epoch_;
  summary.sequence = sequence_;
  summary.members = member_count_locked() + (first_of_user ? 1 : 0);

  const std::optional<Position>& resume = options.resume;
  std::vector<StoredMessagePtr> replay;
  if (resume) {
    std::uint64_t after = resume->sequence;
    if (resume->epoch != epoch_) {
      // Epoch 0 is no epoch (rooms never have it): a client that has seen
      // nothing yet asks for the whole history, and nothing changed for it.
      summary.epoch_changed = resume->epoch != 0;
      after = 0;
    } else if (after > sequence_) {
      outcome.status = JoinStatus::resume_ahead;
      return outcome;
    }
    replay = history_.after(after, history_.size());
    summary.replayed = replay.size();
    summary.missed = (sequence_ - after) - replay.size();
  }

  queue_to(subscriber, encoder_.encode_joined(summary), flush, true);
  for (const auto& message : replay) {
    queue_to(subscriber, message->frame, flush, true);
  }
  // Checked last, as the room is recorded: the stream may have closed on
  // another thread at any point until now, even because of this replay.
  if (!subscriber->add_room_if_open(name_)) {
    outcome.status = JoinStatus::subscriber_closed;
    return outcome;
  }
  if (first_of_user) {
    // Before the subscriber is seated: a stream is not told of its own join.
    announce_locked(subscriber->user(), PresenceKind::joined, flush);
  }
  if (chat) {
    ++chat_streams_of_[subscriber->user()];
  }
  Seat seat{.index = static_cast<std::uint32_t>(subscribers_.size())};
  subscribers_.push_back(subscriber);
  if (options.presence) {
    seat.presence_index = static_cast<std::uint32_t>(presence_subscribers_.size());
    presence_subscribers_.push_back(subscriber);
  }
  seats_.emplace(subscriber.get(), seat);
  return outcome;
}

LeaveStatus Room::leave(const SubscriberPtr& subscriber, std::int64_t steady_us, FlushList& flush) {
  std::lock_guard lock(mutex_);
  const auto seat = seats_.find(subscriber.get());
  if (seat == seats_.end()) {
    return LeaveStatus::not_joined;
  }
  unseat_locked(seat->second);
  seats_.erase(seat);
  subscriber->remove_room(name_);
  last_activity_steady_us_ = std::max(last_activity_steady_us_, steady_us);
  if (subscriber->kind() == SubscriberKind::chat) {
    const auto streams = chat_streams_of_.find(subscriber->user());
    if (--streams->second == 0) {
      chat_streams_of_.erase(streams);
      // After the subscriber left: a stream is not told of its own leave.
      if (!remote_relays_of_.contains(subscriber->user())) {
        announce_locked(subscriber->user(), PresenceKind::left, flush);
      }
    }
  }
  return mark_removed_if_unused_locked() ? LeaveStatus::left_and_removed : LeaveStatus::left;
}

std::optional<PublishResult> Room::publish(PublishRequest&& request, HubTime now,
                                           FlushList& flush) {
  std::lock_guard lock(mutex_);
  if (removed_) {
    return std::nullopt;
  }
  const bool has_id = !request.client_message_id.empty();
  if (has_id) {
    if (auto sequence =
            duplicates_.find(request.sender, request.client_message_id, now.steady_us)) {
      return PublishResult{epoch_, *sequence, true};
    }
  }
  Message message;
  message.room = name_;
  message.epoch = epoch_;
  message.sequence = ++sequence_;
  message.sender = std::move(request.sender);
  message.client_message_id = std::move(request.client_message_id);
  message.server_time_us = now.wall_us;
  message.body = std::move(request.body);
  last_activity_steady_us_ = std::max(last_activity_steady_us_, now.steady_us);
  const PublishResult result{epoch_, message.sequence, false};
  deliver_locked(std::move(message), now.steady_us, flush);
  return result;
}

std::optional<Position> Room::append(Message&& message, HubTime now, FlushList& flush) {
  std::lock_guard lock(mutex_);
  if (removed_) {
    return std::nullopt;
  }
  if (message.epoch != epoch_ || sequence_ == 0) {
    if (message.epoch != epoch_) {
      duplicates_.clear();
    }
    history_.clear();
    epoch_ = message.epoch;
    sequence_ = message.sequence - 1;
  } else if (message.sequence > sequence_ + 1) {
    history_.clear();
    sequence_ = message.sequence - 1;
  }
  message.sequence = ++sequence_;
  last_activity_steady_us_ = std::max(last_activity_steady_us_, now.steady_us);
  const Position position{epoch_, sequence_};
  // The duplicate window counts from when the message was published, not
  // from when this relay read it: a relay reading the broker's old messages
  // at its start must not take resends of them for duplicates when the
  // broker, and the relays that were up, take them for new.
  const std::int64_t age = std::max<std::int64_t>(0, now.wall_us - message.server_time_us);
  deliver_locked(std::move(message), now.steady_us - age, flush);
  return position;
}

void Room::deliver_locked(Message&& message, std::int64_t published_steady_us, FlushList& flush) {
  // Serialized once here; every subscriber's queue and the history share it.
  auto stored = std::make_shared<const StoredMessage>(
      StoredMessage{message.sequence, encoder_.encode_message(message), published_steady_us});
  if (!message.client_message_id.empty()) {
    duplicates_.remember(message.sender, message.client_message_id, message.sequence,
                         published_steady_us);
  }
  for (const auto& subscriber : subscribers_) {
    queue_to(subscriber, stored->frame, flush);
  }
  history_.append(std::move(stored));
}

std::optional<PublishResult> Room::find_duplicate(const std::string& sender, const std::string& id,
                                                  std::int64_t steady_us) {
  std::lock_guard lock(mutex_);
  if (const auto sequence = duplicates_.find(sender, id, steady_us)) {
    return PublishResult{epoch_, *sequence, true};
  }
  return std::nullopt;
}

RoomInfo Room::info() const {
  std::lock_guard lock(mutex_);
  return RoomInfo{name_, epoch_, sequence_, subscribers_.size(), history_.size()};
}

HistoryPage Room::history(std::uint64_t after, std::size_t limit) const {
  std::lock_guard lock(mutex_);
  HistoryPage page;
  page.epoch = epoch_;
  page.sequence = sequence_;
  page.messages = history_.after(after, limit);
  const std::uint64_t first_held = history_.empty() ? sequence_ + 1 : history_.first_sequence();
  // Never after + 1: it wraps for the largest `after`, which a client whose
  // language has no unsigned 64-bit type sends as -1.
  page.missed = first_held - 1 > after ? first_held - 1 - after : 0;
  return page;
}

Members Room::members() const {
  Members result;
  {
    std::lock_guard lock(mutex_);
    std::size_t chat_streams = 0;
    std::unordered_map<std::string, std::size_t> all = chat_streams_of_;
    for (const auto& [user, streams] : chat_streams_of_) {
      chat_streams += streams;
    }
    for (const auto& [relay, users] : remote_) {
      for (const auto& [user, streams] : users) {
        all[user] += streams;
      }
    }
    result.members.reserve(all.size());
    for (const auto& [user, streams] : all) {
      result.members.push_back({user, streams});
    }
    result.followers = subscribers_.size() - chat_streams;
  }
  std::sort(result.members.begin(), result.members.end(),
            [](const MemberInfo& a, const MemberInfo& b) { return a.user < b.user; });
  return result;
}

UserStreams Room::local_members() const {
  std::lock_guard lock(mutex_);
  return chat_streams_of_;
}

bool Room::set_remote_members(const std::string& relay, UserStreams& users, FlushList& flush) {
  std::lock_guard lock(mutex_);
  if (removed_) {
    return false;
  }
  std::erase_if(users, [](const auto& entry) { return entry.second == 0; });
  const auto found = remote_.find(relay);
  const UserStreams before = found == remote_.end() ? UserStreams{} : found->second;
  for (const auto& [user, streams] : before) {
    if (users.contains(user)) {
      continue;
    }
    const auto relays = remote_relays_of_.find(user);
    if (--relays->second == 0) {
      remote_relays_of_.erase(relays);
      if (!chat_streams_of_.contains(user)) {
        announce_locked(user, PresenceKind::left, flush);
      }
    }
  }
  for (const auto& [user, streams] : users) {
    if (before.contains(user)) {
      continue;
    }
    if (!member_locked(user)) {
      announce_locked(user, PresenceKind::joined, flush);
    }
    ++remote_relays_of_[user];
  }
  if (users.empty()) {
    remote_.erase(relay);
  } else {
    remote_[relay] = std::move(users);
  }
  return true;
}

bool Room::member_locked(const std::string& user) const {
  return chat_streams_of_.contains(user) || remote_relays_of_.contains(user);
}

std::size_t Room::member_count_locked() const {
  std::size_t count = chat_streams_of_.size();
  for (const auto& [user, relays] : remote_relays_of_) {
    count += chat_streams_of_.contains(user) ? 0 : 1;
  }
  return count;
}

std::vector<SubscriberPtr> Room::subscribers() const {
  std::lock_guard lock(mutex_);
  return subscribers_;
}

std::optional<std::int64_t> Room::oldest_published_us() const {
  std::lock_guard lock(mutex_);
  return history_.oldest_published_us();
}

Eviction Room::evict_oldest_message(std::int64_t not_after_us) {
  std::lock_guard lock(mutex_);
  Eviction eviction;
  const auto oldest = history_.oldest_published_us();
  if (oldest && *oldest <= not_after_us) {
    history_.drop_oldest();
    eviction.evicted = true;
  }
  eviction.oldest_published_us = history_.oldest_published_us();
  return eviction;
}

bool Room::remove_if_unused() {
  std::lock_guard lock(mutex_);
  return mark_removed_if_unused_locked();
}

bool Room::mark_removed_if_unused_locked() {
  if (!removed_ && subscribers_.empty() && remote_.empty() && sequence_ == 0) {
    removed_ = true;
    return true;
  }
  return false;
}

bool Room::remove_if_idle(std::int64_t steady_us, std::int64_t idle_ttl_us, bool keep_numbered) {
  std::lock_guard lock(mutex_);
  if (!removed_ && subscribers_.empty() && remote_.empty() &&
      steady_us - last_activity_steady_us_ >= idle_ttl_us &&
      !(keep_numbered && !history_.empty()) && !duplicates_.remembers_any(steady_us)) {
    removed_ = true;
  }
  return removed_;
}

void Room::unseat_locked(const Seat& seat) {
  // The order of subscribers means nothing (each one's own queue keeps the
  // room's order), so the last one takes the free place and nothing shifts.
  if (seat.index + 1 != subscribers_.size()) {
    subscribers_[seat.index] = std::move(subscribers_.back());
    seats_.at(subscribers_[seat.index].get()).index = seat.index;
  }
  subscribers_.pop_back();
  if (seat.presence_index != Seat::kNoPresence) {
    const std::uint32_t index = seat.presence_index;
    if (index + 1 != presence_subscribers_.size()) {
      presence_subscribers_[index] = std::move(presence_subscribers_.back());
      seats_.at(presence_subscribers_[index].get()).presence_index = index;
    }
    presence_subscribers_.pop_back();
  }
}

// The frame is serialized once and shared by every queue. Only the
// subscribers that asked for presence are walked, so members that did not
// ask cost a join nothing. Where every member asked, a storm of joins is
// fan-out like a storm of messages, and the same bounds hold: each queue is
// bounded in frames and bytes, and a subscriber that cannot keep up is closed
// as a slow consumer rather than slowing the room.
void Room::announce_locked(const std::string& user, PresenceKind kind, FlushList& flush) {
  if (presence_subscribers_.empty()) {
    return;
  }
  const FramePtr frame = encoder_.encode_presence(name_, user, kind);
  for (const auto& subscriber : presence_subscribers_) {
    queue_to(subscriber, frame, flush);
  }
}

}  // namespace relay::hub
