// The unary and streaming requests other than Chat frames: the first byte
// chooses PublishRequest (PublishBatch), FollowRequest, HistoryRequest or
// WhoRequest, and the rest is parsed as that message, then validated and run
// as relay_service.cpp, publish_batch_reactor.cpp and follow_reactor.cpp do,
// against a hub that already holds two rooms with members, a follower and
// more messages than the history keeps.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/validation.hpp"
#include "relay/service/follow_reactor.hpp"
#include "tests/fuzz/fuzz_relay.hpp"

namespace {

using namespace relay;
using fuzz::require;
using fuzz::Rooms;
using fuzz::rooms_of;

class Prepared {
 public:
  Prepared() {
    auto& alice = add_stream("alice", hub::SubscriberKind::chat);
    auto& bob = add_stream("bob", hub::SubscriberKind::chat);
    auto& follower = add_stream("", hub::SubscriberKind::follow);
    for (auto* stream : {&alice, &bob, &follower}) {
      require(relay.hub.join("lobby", stream->subscriber(), {}).status == hub::JoinStatus::joined);
    }
    require(relay.hub.join("ops", alice.subscriber(), {}).status == hub::JoinStatus::joined);
    for (int i = 1; i <= 6; ++i) {
      relay.hub.publish("lobby", {"alice", "a" + std::to_string(i), "line " + std::to_string(i)});
    }
    relay.hub.publish("ops", {kBatchUser, "c1", "deploy"});
    fuzz::deliver_all(streams);
  }

  static constexpr const char* kBatchUser = "carol";

  fuzz::RecordedStream& add_stream(std::string user, hub::SubscriberKind kind) {
    return streams.emplace_back(relay, std::move(user), kind, streams.size() % 2 == 1);
  }

  fuzz::Relay relay;
  std::deque<fuzz::RecordedStream> streams;
};

// PublishBatchReactor::publish for one request, with LocalBackplane.
void publish(Prepared& prepared, const v1::PublishRequest& request) {
  const Rooms before = rooms_of(prepared.relay.hub);
  std::vector<std::size_t> counts;
  for (const auto& stream : prepared.streams) {
    counts.push_back(stream.frames().size());
  }
  const std::string& id = request.client_message_id();
  const bool valid = !common::validate_publish(request.room(), id, request.body(),
                                               prepared.relay.config.max_body_bytes);
  std::optional<hub::PublishResult> result;
  if (valid) {
    result = prepared.relay.hub.publish(request.room(), {Prepared::kBatchUser, id, request.body()});
  }
  fuzz::deliver_all(prepared.streams);
  const Rooms after = rooms_of(prepared.relay.hub);

  const bool delivered = result && !result->too_many_rooms && !result->duplicate;
  if (!delivered) {
    // Refused, or acknowledged as a repeat: no room changes, nobody hears of it.
    require(after.size() == before.size());
    for (const auto& [name, info] : after) {
      require(info.sequence == before.at(name).sequence);
    }
    for (std::size_t i = 0; i < counts.size(); ++i) {
      require(prepared.streams[i].frames().size() == counts[i]);
    }
    require(!result || !result->too_many_rooms ||
            (!before.contains(request.room()) && before.size() == prepared.relay.config.max_rooms));
    require(!result || !result->duplicate || (request.room() == "ops" && id == "c1"));
    return;
  }
  const auto was = before.find(request.room());
  const std::uint64_t sequence = was == before.end() ? 1 : was->second.sequence + 1;
  require(result->sequence == sequence && after.at(request.room()).sequence == sequence);
  // Every subscriber of the room gets the message once, and only they do.
  const std::size_t subscribers = was == before.end() ? 0 : was->second.subscribers;
  std::size_t reached = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const auto& frames = prepared.streams[i].frames();
    require(frames.size() <= counts[i] + 1);
    if (frames.size() == counts[i] + 1) {
      const v1::Message& message = frames.back().message();
      require(frames.back().has_message() && message.room() == request.room() &&
              message.sequence() == sequence && message.sender() == Prepared::kBatchUser &&
              message.body() == request.body() && message.client_message_id() == id);
      ++reached;
    }
  }
  require(reached == subscribers);
}

// RelayService::Follow and FollowReactor's constructor.
void follow(Prepared& prepared, const v1::FollowRequest& request) {
  if (auto error = service::FollowReactor::validate(request)) {
    require(!error->empty());
    return;
  }
  std::set<std::string> names;
  for (const auto& room : request.rooms()) {
    require(!common::validate_room_name(room.room()));
    names.insert(room.room());
  }
  require(names.size() == static_cast<std::size_t>(request.rooms_size()) && names.size() <= 64);

  auto& stream = prepared.add_stream("", hub::SubscriberKind::follow);
  std::size_t joined = 0;
  for (const auto& room : request.rooms()) {
    hub::JoinOptions options{.presence = room.presence()};
    if (room.has_resume()) {
      options.resume = hub::Position{room.resume().epoch(), room.resume().sequence()};
    }
    const auto status = prepared.relay.hub.join(room.room(), stream.subscriber(), options).status;
    if (status == hub::JoinStatus::resume_ahead || status == hub::JoinStatus::too_many_rooms) {
      stream.subscriber()->close({hub::CloseCode::invalid_argument, "refused"}, false);
      break;
    }
    require(status == hub::JoinStatus::joined);
    ++joined;
  }
  fuzz::deliver_all(prepared.streams);
  require(prepared.relay.hub.list_rooms().size() <= prepared.relay.config.max_rooms);

  // Joined answers in the order asked, each followed by its replay, which
  // ends at the room's last message without a gap; nothing else.
  const auto& frames = stream.frames();
  std::size_t at = 0;
  for (std::size_t i = 0; i < joined && at < frames.size(); ++i) {
    require(frames[at].has_joined());
    const v1::Joined& answer = frames[at].joined();
    require(answer.room() == request.rooms(static_cast<int>(i)).room());
    // A follower is no member: the count is the chat users' alone.
    const auto members = prepared.relay.hub.members(answer.room());
    require(members && answer.members() == members->members.size());
    ++at;
    for (std::uint64_t k = 1; k <= answer.replayed(); ++k, ++at) {
      require(at < frames.size() && frames[at].has_message());
      require(frames[at].message().room() == answer.room() &&
              frames[at].message().sequence() == answer.sequence() - answer.replayed() + k);
    }
  }
  require(at == frames.size());
}

// RelayService::History.
void history(Prepared& prepared, const v1::HistoryRequest& request) {
  if (common::validate_room_name(request.room())) {
    return;
  }
  const Rooms rooms = rooms_of(prepared.relay.hub);
  const std::size_t most = prepared.relay.config.history_query_max_messages;
  const std::size_t limit =
      request.limit() == 0 ? most : std::min<std::size_t>(request.limit(), most);
  const auto page = prepared.relay.hub.history(request.room(), request.after_sequence(), limit);
  require(page.has_value() == rooms.contains(request.room()));
  if (!page) {
    return;
  }
  require(page->messages.size() <= limit &&
          page->messages.size() <= prepared.relay.config.history_max_messages);
  // Sorted, contiguous, after the position asked for, within the room.
  std::uint64_t expected = request.after_sequence() + page->missed + 1;
  for (const auto& stored : page->messages) {
    v1::Message message;
    require(service::decode_message(stored->frame, message));
    require(message.sequence() == stored->sequence && message.sequence() == expected &&
            message.room() == request.room() && message.epoch() == page->epoch);
    ++expected;
  }
  require(page->messages.empty() || expected - 1 <= page->sequence);
  // A page shorter than its limit reaches the room's last message.
  if (page->messages.size() < limit && request.after_sequence() < page->sequence) {
    require(!page->messages.empty() && expected - 1 == page->sequence);
  }
}

// RelayService::Who.
void who(Prepared& prepared, const v1::WhoRequest& request) {
  if (common::validate_room_name(request.room())) {
    return;
  }
  const Rooms rooms = rooms_of(prepared.relay.hub);
  const auto members = prepared.relay.hub.members(request.room());
  require(members.has_value() == rooms.contains(request.room()));
  if (!members) {
    return;
  }
  std::size_t streams = members->followers;
  for (std::size_t i = 0; i < members->members.size(); ++i) {
    require(members->members[i].streams >= 1);
    require(i == 0 || members->members[i - 1].user < members->members[i].user);
    streams += members->members[i].streams;
  }
  require(streams == rooms.at(request.room()).subscribers);
}

// Runs `check` on the bytes when they parse as a Request; bytes that do not
// are refused by gRPC before the service sees them.
template <typename Request>
void run(Prepared& prepared, std::string_view bytes, void (*check)(Prepared&, const Request&)) {
  Request request;
  if (request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    check(prepared, request);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  fuzz::quiet_protobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  Prepared prepared;
  switch (data[0] % 4) {
    case 0:
      run<v1::PublishRequest>(prepared, bytes, publish);
      break;
    case 1:
      run<v1::FollowRequest>(prepared, bytes, follow);
      break;
    case 2:
      run<v1::HistoryRequest>(prepared, bytes, history);
      break;
    case 3:
      run<v1::WhoRequest>(prepared, bytes, who);
      break;
  }
  return 0;
}
