#include "relay/hub/hub.hpp"

#include <algorithm>
#include <functional>
#include <mutex>
#include <queue>
#include <utility>

#include <spdlog/spdlog.h>

namespace relay::hub {
namespace {

// Each publishing thread keeps its own list, so fan-out allocates nothing once
// the list has grown to the room's size.
FlushList& thread_flush_list() {
  thread_local FlushList list;
  return list;
}

// How many DeferredWrites this thread is inside.
thread_local int deferring_writes = 0;

}  // namespace

Hub::Hub(HubLimits limits, FrameEncoder& encoder, Clock clock)
    : limits_(limits),
      encoder_(encoder),
      clock_(std::move(clock)),
      epoch_base_(static_cast<std::uint64_t>(clock_().wall_us)),
      linger_({.base = limits_.write_linger,
               .max = std::max(limits_.write_linger, limits_.max_write_linger),
               .cpu_time = process_cpu_time,
               .cpus = usable_cpus()}) {}

SubscriberPtr Hub::make_subscriber(std::string user, SubscriberKind kind, FrameSink& sink,
                                   WriteBatching batching,
                                   std::shared_ptr<SharedConnection> connection) {
  batching.linger = &linger_;
  batching.turns = &write_turns_;
  return std::make_shared<Subscriber>(next_subscriber_id_.fetch_add(1), std::move(user), kind,
                                      limits_.queue, sink, batching, &flush_timer_,
                                      std::move(connection), &subscriber_stats_);
}

JoinOutcome Hub::join(const std::string& room, const SubscriberPtr& subscriber,
                      const JoinOptions& options, const CreateGate& may_create) {
  FlushList& flush = thread_flush_list();
  // A sweep or a last leave may remove the room between finding and joining
  // it; the retry erases it if its remover has not yet, then finds (or
  // creates) the room the map holds now.
  for (;;) {
    const auto [target, creation_refused] = find_or_create(room, may_create);
    if (!target) {
      return JoinOutcome{
          creation_refused ? JoinStatus::creation_refused : JoinStatus::too_many_rooms, {}};
    }
    JoinOutcome outcome = target->join(subscriber, options, flush);
    if (outcome.status != JoinStatus::room_removed) {
      settle(flush);
      if (outcome.status == JoinStatus::joined && members_changed_ &&
          subscriber->kind() == SubscriberKind::chat) {
        members_changed_(room);
      }
      // A refused join may have created the room (a resume position ahead of
      // a new room, say): left empty, it must not wait for the idle sweep.
      if (outcome.status != JoinStatus::joined && target->remove_if_unused()) {
        erase_left_empty(target);
      }
      return outcome;
    }
    erase_removed(target);
  }
}

bool Hub::leave(const std::string& room, const SubscriberPtr& subscriber) {
  const auto found = find(room);
  if (!found) {
    return false;
  }
  FlushList& flush = thread_flush_list();
  const LeaveStatus status = found->leave(subscriber, clock_().steady_us, flush);
  settle(flush);
  if (status != LeaveStatus::not_joined && members_changed_ &&
      subscriber->kind() == SubscriberKind::chat) {
    members_changed_(room);
  }
  if (status == LeaveStatus::left_and_removed) {
    erase_left_empty(found);
  }
  return status != LeaveStatus::not_joined;
}

PublishResult Hub::publish(const std::string& room, PublishRequest request,
                           const CreateGate& may_create) {
  FlushList& flush = thread_flush_list();
  for (;;) {
    const auto [target, creation_refused] = find_or_create(room, may_create);
    if (!target) {
      return creation_refused ? PublishResult{.creation_refused = true}
                              : PublishResult{.too_many_rooms = true};
    }
    // Room::publish takes the request's strings only when it publishes, so
    // a retry after room_removed still has them.
    auto result = target->publish(std::move(request), clock_(), flush);
    if (result) {
      settle(flush);
      (result->duplicate ? duplicates_acknowledged_ : messages_published_)
          .fetch_add(1, std::memory_order_relaxed);
      // Here, with no room's lock held: trimming takes other rooms' locks.
      enforce_history_budget();
      return *result;
    }
    erase_removed(target);
  }
}

Position Hub::append(Message message) {
  FlushList& flush = thread_flush_list();
  for (;;) {
    const auto target = find_or_create(message.room, {}, false).room;
    if (const auto position = target->append(std::move(message), clock_(), flush)) {
      settle(flush);
      messages_published_.fetch_add(1, std::memory_order_relaxed);
      enforce_history_budget();
      return *position;
    }
    erase_removed(target);
  }
}

std::optional<PublishResult> Hub::find_duplicate(const std::string& room, const std::string& sender,
                                                 const std::string& client_message_id) {
  const auto found = find(room);
  if (!found) {
    return std::nullopt;
  }
  auto result = found->find_duplicate(sender, client_message_id, clock_().steady_us);
  if (result) {
    duplicates_acknowledged_.fetch_add(1, std::memory_order_relaxed);
  }
  return result;
}

PublishResult Hub::admit_room(const std::string& room, const CreateGate& may_create) {
  const auto [target, creation_refused] = find_or_create(room, may_create);
  if (!target) {
    return creation_refused ? PublishResult{.creation_refused = true}
                            : PublishResult{.too_many_rooms = true};
  }
  return {};
}

void Hub::set_remote_members(const std::string& room, const std::string& relay, UserStreams users) {
  FlushList& flush = thread_flush_list();
  const bool none = users.empty();
  for (;;) {
    const auto target = none ? find(room) : find_or_create(room, {}, false).room;
    if (!target) {
      return;
    }
    // Room::set_remote_members leaves `users` as it was when the room was removed.
    if (target->set_remote_members(relay, users, flush)) {
      settle(flush);
      if (none && target->remove_if_unused()) {
        erase_left_empty(target);
      }
      return;
    }
    erase_removed(target);
  }
}

std::vector<std::pair<std::string, UserStreams>> Hub::local_members() const {
  std::vector<std::pair<std::string, UserStreams>> result;
  for (const auto& room : all_rooms()) {
    auto members = room->local_members();
    if (!members.empty()) {
      result.emplace_back(room->name(), std::move(members));
    }
  }
  return result;
}

std::optional<UserStreams> Hub::local_members(const std::string& room) const {
  const auto found = find(room);
  if (!found) {
    return std::nullopt;
  }
  return found->local_members();
}

std::vector<RoomInfo> Hub::list_rooms() const {
  const auto rooms = all_rooms();
  std::vector<RoomInfo> result;
  result.reserve(rooms.size());
  for (const auto& room : rooms) {
    result.push_back(room->info());
  }
  std::sort(result.begin(), result.end(),
            [](const RoomInfo& a, const RoomInfo& b) { return a.room < b.room; });
  return result;
}

std::optional<HistoryPage> Hub::history(const std::string& room, std::uint64_t after,
                                        std::size_t limit) const {
  const auto found = find(room);
  if (!found) {
    return std::nullopt;
  }
  return found->history(after, limit);
}

std::optional<Members> Hub::members(const std::string& room) const {
  const auto found = find(room);
  if (!found) {
    return std::nullopt;
  }
  return found->members();
}

std::size_t Hub::sweep() {
  if (const std::size_t trimmed = subscriber_stats_.trim_idle(); trimmed > 0) {
    spdlog::debug("{} streams idle since the last sweep gave back their queues' room", trimmed);
  }
  const HubTime now = clock_();
  if (limits_.history_max_age_us > 0) {
    std::uint64_t expired = 0;
    for (const auto& room : all_rooms()) {
      // One room's lock at a time, and only to drop its oldest message.
      while (room->evict_oldest_message(now.steady_us - limits_.history_max_age_us).evicted) {
        ++expired;
      }
    }
    if (expired > 0) {
      messages_expired_by_age_.fetch_add(expired, std::memory_order_relaxed);
      spdlog::debug("{} messages older than {} ms left the histories", expired,
                    limits_.history_max_age_us / 1000);
    }
  }
  std::size_t removed = 0;
  for (Shard& shard : shards_) {
    std::unique_lock lock(shard.mutex);
    for (auto it = shard.rooms.begin(); it != shard.rooms.end();) {
      if (it->second->remove_if_idle(now.steady_us, limits_.room_idle_ttl_us,
                                     limits_.keep_numbered_rooms)) {
        spdlog::info("room {} removed after being idle and empty", it->first);
        it = shard.rooms.erase(it);
        room_count_.fetch_sub(1, std::memory_order_relaxed);
        ++removed;
      } else {
        ++it;
      }
    }
  }
  rooms_removed_.fetch_add(removed, std::memory_order_relaxed);
  return removed;
}

HubStats Hub::stats() const {
  return HubStats{.rooms = room_count_.load(),
                  .rooms_created = rooms_created_.load(),
                  .rooms_removed = rooms_removed_.load(),
                  .rooms_removed_when_left_empty = rooms_removed_when_left_empty_.load(),
                  .messages_published = messages_published_.load(),
                  .duplicates_acknowledged = duplicates_acknowledged_.load(),
                  .history_bytes = history_bytes_.load(),
                  .messages_evicted_by_history_budget = messages_evicted_by_history_budget_.load(),
                  .messages_expired_by_age = messages_expired_by_age_.load()};
}

std::vector<std::shared_ptr<Room>> Hub::all_rooms() const {
  std::vector<std::shared_ptr<Room>> rooms;
  rooms.reserve(room_count_.load(std::memory_order_relaxed));
  for (const Shard& shard : shards_) {
    std::shared_lock lock(shard.mutex);
    for (const auto& [name, room] : shard.rooms) {
      rooms.push_back(room);
    }
  }
  return rooms;
}

void Hub::enforce_history_budget() {
  const std::size_t budget = limits_.history_total_max_bytes;
  // Down to 90% of the budget, so that a relay at its budget trims once per
  // tenth of it rather than on every publish.
  const std::size_t target = budget / 10 * 9;
  // Checked again once the flag is down: a publish that went over while this
  // thread trimmed found the flag up and left the work to it.
  while (budget != 0 && history_bytes_.load() > budget && !trimming_history_.exchange(true)) {
    // Each room's oldest message, oldest first. A room is locked only to
    // read or drop its own oldest, one room at a time, and never under a
    // shard's lock, so publishes go on meanwhile.
    const auto rooms = all_rooms();
    // Published when (steady clock), index in rooms.
    using Oldest = std::pair<std::int64_t, std::size_t>;
    std::priority_queue<Oldest, std::vector<Oldest>, std::greater<>> oldest_first;
    for (std::size_t i = 0; i < rooms.size(); ++i) {
      if (const auto time = rooms[i]->oldest_published_us()) {
        oldest_first.emplace(*time, i);
      }
    }
    std::uint64_t evicted = 0;
    while (!oldest_first.empty() && history_bytes_.load() > target) {
      const auto [time, index] = oldest_first.top();
      oldest_first.pop();
      const Eviction eviction = rooms[index]->evict_oldest_message(time);
      evicted += eviction.evicted ? 1 : 0;
      if (eviction.oldest_published_us) {
        oldest_first.emplace(*eviction.oldest_published_us, index);
      }
    }
    messages_evicted_by_history_budget_.fetch_add(evicted, std::memory_order_relaxed);
    spdlog::warn("history budget of {} bytes reached: evicted the {} oldest messages of all rooms",
                 budget, evicted);
    trimming_history_.store(false);
    if (evicted == 0) {
      // The bytes counted belong to rooms no longer in the map (a publish
      // still holds one): nothing to evict now, and spinning would not help.
      break;
    }
  }
}

Hub::DeferredWrites::DeferredWrites(Hub& hub) : hub_(hub) { ++deferring_writes; }

Hub::DeferredWrites::~DeferredWrites() {
  if (--deferring_writes == 0) {
    hub_.settle(thread_flush_list());
  }
}

void Hub::settle(FlushList& flush) {
  if (deferring_writes > 0) {
    return;
  }
  std::vector<SubscriberPtr> closed;
  start_writes_by_connection(flush, [&closed](const SubscriberPtr& subscriber) {
    if (subscriber->flush()) {
      closed.push_back(subscriber);
    }
  });
  // Cleared first: leave() below uses this thread's list again.
  flush.clear();
  for (const auto& subscriber : closed) {
    remove_from_rooms(subscriber);
  }
}

void Hub::remove_from_rooms(const SubscriberPtr& subscriber) {
  for (const auto& room : subscriber->rooms()) {
    leave(room, subscriber);
  }
}

Hub::Shard& Hub::shard_of(const std::string& room) const {
  return shards_[std::hash<std::string>{}(room) % kShards];
}

bool Hub::reserve_room() {
  std::size_t count = room_count_.load(std::memory_order_relaxed);
  do {
    if (count >= limits_.max_rooms) {
      return false;
    }
  } while (!room_count_.compare_exchange_weak(count, count + 1, std::memory_order_relaxed));
  return true;
}

std::shared_ptr<Room> Hub::find(const std::string& room) const {
  const Shard& shard = shard_of(room);
  std::shared_lock lock(shard.mutex);
  const auto it = shard.rooms.find(room);
  return it == shard.rooms.end() ? nullptr : it->second;
}

void Hub::erase_left_empty(const std::shared_ptr<Room>& room) {
  rooms_removed_when_left_empty_.fetch_add(1, std::memory_order_relaxed);
  // Not under the room's lock: a shard's lock is never taken inside one.
  erase_removed(room);
}

void Hub::erase_removed(const std::shared_ptr<Room>& room) {
  Shard& shard = shard_of(room->name());
  std::unique_lock lock(shard.mutex);
  const auto it = shard.rooms.find(room->name());
  if (it == shard.rooms.end() || it->second != room) {
    return;
  }
  shard.rooms.erase(it);
  room_count_.fetch_sub(1, std::memory_order_relaxed);
  rooms_removed_.fetch_add(1, std::memory_order_relaxed);
}

Hub::Found Hub::find_or_create(const std::string& room, const CreateGate& may_create,
                               bool within_max_rooms) {
  if (auto found = find(room)) {
    return {std::move(found)};
  }
  Shard& shard = shard_of(room);
  std::unique_lock lock(shard.mutex);
  if (const auto it = shard.rooms.find(room); it != shard.rooms.end()) {
    return {it->second};
  }
  // The relay's limit first: a refusal there must not spend the caller's quota.
  if (!within_max_rooms) {
    room_count_.fetch_add(1, std::memory_order_relaxed);
  } else if (!reserve_room()) {
    return {};
  }
  if (may_create && !may_create()) {
    room_count_.fetch_sub(1, std::memory_order_relaxed);
    return {nullptr, true};
  }
  const std::uint64_t epoch = epoch_base_ + next_epoch_offset_.fetch_add(1);
  auto created = std::make_shared<Room>(room, epoch, limits_.room, encoder_, history_bytes_,
                                        clock_().steady_us);
  shard.rooms.emplace(room, created);
  rooms_created_.fetch_add(1, std::memory_order_relaxed);
  return {std::move(created)};
}

}  // namespace relay::hub
