// A Chat stream reads ClientFrames from anyone who can connect. The input is
// a script of frames from three streams (alice, bob, and alice again on a
// second stream): each entry is a byte choosing the stream, a byte giving
// the length, then that many bytes parsed as a relay.v1.ClientFrame. Each
// frame is handled as ChatReactor handles it, against a real hub with the
// relay's encoder, and what every stream receives is checked against what
// the frame should have done.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <grpcpp/support/status_code_enum.h>

#include "common/validation.hpp"
#include "tests/fuzz/fuzz_relay.hpp"

namespace {

using namespace relay;
using fuzz::require;
using fuzz::Rooms;
using fuzz::rooms_of;

constexpr std::size_t kStreams = 3;
constexpr const char* kUsers[kStreams] = {"alice", "bob", "alice"};
constexpr std::size_t kMaxFrames = 64;

enum class Kind { refused, joined, left, published, duplicate, ended };

struct Outcome {
  Kind kind = Kind::refused;
  grpc::StatusCode code = grpc::StatusCode::OK;  // when refused
  std::string room;
  hub::PublishResult publish;  // when published or a duplicate
};

Outcome refused(grpc::StatusCode code, const std::string& room) {
  return {Kind::refused, code, room, {}};
}

// The reactor's side of one Chat stream, as chat_reactor.cpp has it. The
// rate limit and the refusal while draining are left out: both depend on
// time or shutdown, not on the frame.
struct ChatStream {
  explicit ChatStream(fuzz::RecordedStream& stream) : recorded(stream) {}

  fuzz::RecordedStream& recorded;
  std::set<std::string> rooms;
  // Of rooms: those joined asking for presence frames.
  std::set<std::string> presence_rooms;
  bool ended = false;

  void send(hub::FramePtr frame) {
    if (recorded.subscriber()->enqueue(std::move(frame))) {
      recorded.subscriber()->flush();
    }
  }

  Outcome notice(grpc::StatusCode code, const std::string& room, const std::string& id = "") {
    send(service::encode_error(static_cast<int>(code), "refused", room, id));
    return refused(code, room);
  }

  Outcome handle(fuzz::Relay& relay, const v1::Join& join) {
    const std::string& room = join.room();
    if (common::validate_room_name(room)) {
      return notice(grpc::StatusCode::INVALID_ARGUMENT, room);
    }
    if (rooms.size() >= relay.config.max_rooms_per_stream && !rooms.contains(room)) {
      return notice(grpc::StatusCode::RESOURCE_EXHAUSTED, room);
    }
    hub::JoinOptions options{.presence = join.presence()};
    if (join.has_resume()) {
      options.resume = hub::Position{join.resume().epoch(), join.resume().sequence()};
    }
    switch (relay.hub.join(room, recorded.subscriber(), options).status) {
      case hub::JoinStatus::joined:
        rooms.insert(room);
        if (join.presence()) {
          presence_rooms.insert(room);
        }
        return {Kind::joined, grpc::StatusCode::OK, room, {}};
      case hub::JoinStatus::already_joined:
        return notice(grpc::StatusCode::ALREADY_EXISTS, room);
      case hub::JoinStatus::resume_ahead:
        return notice(grpc::StatusCode::INVALID_ARGUMENT, room);
      case hub::JoinStatus::too_many_rooms:
        return notice(grpc::StatusCode::RESOURCE_EXHAUSTED, room);
      case hub::JoinStatus::room_removed:
      case hub::JoinStatus::subscriber_closed:
      case hub::JoinStatus::creation_refused:
        break;
    }
    // Hub::join retries a room removed under it, no gate limits creations
    // here, and an open stream is never closed.
    require(false);
    return {};
  }

  Outcome handle(fuzz::Relay& relay, const v1::Leave& leave) {
    if (rooms.erase(leave.room()) == 0) {
      return notice(grpc::StatusCode::FAILED_PRECONDITION, leave.room());
    }
    presence_rooms.erase(leave.room());
    require(relay.hub.leave(leave.room(), recorded.subscriber()));
    return {Kind::left, grpc::StatusCode::OK, leave.room(), {}};
  }

  Outcome handle(fuzz::Relay& relay, const v1::Publish& publish) {
    const std::string& room = publish.room();
    const std::string& id = publish.client_message_id();
    if (common::validate_publish(room, id, publish.body(), relay.config.max_body_bytes)) {
      return notice(grpc::StatusCode::INVALID_ARGUMENT, room, id);
    }
    if (!rooms.contains(room)) {
      return notice(grpc::StatusCode::PERMISSION_DENIED, room, id);
    }
    // What LocalBackplane does: the hub delivers, then the ack goes out.
    const hub::PublishResult result =
        relay.hub.publish(room, {recorded.subscriber()->user(), id, publish.body()});
    require(!result.too_many_rooms);
    send(service::encode_ack(room, id, result.epoch, result.sequence, result.duplicate));
    return {result.duplicate ? Kind::duplicate : Kind::published, grpc::StatusCode::OK, room,
            result};
  }

  // A frame that does not parse ends the stream, after what is queued.
  Outcome end(fuzz::Relay& relay) {
    for (const std::string& room : rooms) {
      relay.hub.leave(room, recorded.subscriber());
    }
    rooms.clear();
    presence_rooms.clear();
    recorded.subscriber()->close({hub::CloseCode::invalid_argument, "malformed"}, true);
    ended = true;
    return {Kind::ended, grpc::StatusCode::OK, "", {}};
  }
};

bool same(const hub::RoomInfo& a, const hub::RoomInfo& b) {
  return std::tie(a.room, a.epoch, a.sequence, a.subscribers, a.history_messages) ==
         std::tie(b.room, b.epoch, b.sequence, b.subscribers, b.history_messages);
}

// Whether the rooms other than `room` are as they were.
bool others_unchanged(Rooms before, Rooms after, const std::string& room) {
  before.erase(room);
  after.erase(room);
  return std::equal(before.begin(), before.end(), after.begin(), after.end(),
                    [](const auto& x, const auto& y) { return same(x.second, y.second); });
}

class Session {
 public:
  Session() {
    for (std::size_t i = 0; i < kStreams; ++i) {
      recorded_.emplace_back(relay_, kUsers[i], hub::SubscriberKind::chat, i > 0);
      streams_.push_back(ChatStream{recorded_.back()});
    }
  }

  void handle(std::size_t sender, std::string_view bytes) {
    ChatStream& from = streams_[sender];
    if (from.ended) {
      return;
    }
    const Rooms before = rooms_of(relay_.hub);
    for (std::size_t i = 0; i < kStreams; ++i) {
      counts_[i] = recorded_[i].frames().size();
    }
    v1::ClientFrame frame;
    Outcome outcome;
    if (!frame.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      outcome = from.end(relay_);
    } else if (frame.has_join()) {
      outcome = from.handle(relay_, frame.join());
    } else if (frame.has_leave()) {
      outcome = from.handle(relay_, frame.leave());
    } else if (frame.has_publish()) {
      outcome = from.handle(relay_, frame.publish());
    } else {
      outcome = from.notice(grpc::StatusCode::INVALID_ARGUMENT, "");
    }
    fuzz::deliver_all(recorded_);
    check(sender, frame, outcome, before, rooms_of(relay_.hub));
  }

 private:
  std::span<const v1::ServerFrame> received(std::size_t stream) const {
    return std::span(recorded_[stream].frames()).subspan(counts_[stream]);
  }

  const std::string& user(std::size_t stream) const {
    return recorded_[stream].subscriber()->user();
  }

  // Every other stream got nothing, or, when in `room` and asking for its
  // presence, the presence change of the sender's user if that user has no
  // other stream in it.
  void others_saw_presence(std::size_t sender, const std::string& room,
                           v1::Presence::Kind kind) const {
    bool announced = true;
    for (std::size_t other = 0; other < kStreams; ++other) {
      if (other != sender && user(other) == user(sender) && streams_[other].rooms.contains(room)) {
        announced = false;
      }
    }
    for (std::size_t other = 0; other < kStreams; ++other) {
      if (other == sender) {
        continue;
      }
      const auto frames = received(other);
      if (!announced || !streams_[other].presence_rooms.contains(room)) {
        require(frames.empty());
        continue;
      }
      require(frames.size() == 1 && frames[0].has_presence());
      const v1::Presence& presence = frames[0].presence();
      require(presence.room() == room && presence.kind() == kind &&
              presence.user() == user(sender));
    }
  }

  void nothing_to_others(std::size_t sender) const {
    for (std::size_t other = 0; other < kStreams; ++other) {
      require(other == sender || received(other).empty());
    }
  }

  void check(std::size_t sender, const v1::ClientFrame& frame, const Outcome& outcome,
             const Rooms& before, const Rooms& after) {
    const auto mine = received(sender);
    const std::string& room = outcome.room;
    switch (outcome.kind) {
      case Kind::refused: {
        // A join refused for its resume position has created its room, as
        // any join does first, and removed it again at once.
        require(after.size() == before.size());
        require(others_unchanged(before, after, room));
        require(!before.contains(room) || same(before.at(room), after.at(room)));
        require(mine.size() == 1 && mine[0].has_error());
        require(mine[0].error().code() == static_cast<int>(outcome.code) &&
                mine[0].error().room() == room);
        nothing_to_others(sender);
        return;
      }
      case Kind::joined: {
        require(others_unchanged(before, after, room));
        const hub::RoomInfo& now = after.at(room);
        const auto was = before.find(room);
        if (was == before.end()) {
          require(now.sequence == 0 && now.subscribers == 1);
        } else {
          require(now.epoch == was->second.epoch && now.sequence == was->second.sequence &&
                  now.subscribers == was->second.subscribers + 1);
        }
        require(!mine.empty() && mine[0].has_joined());
        const v1::Joined& joined = mine[0].joined();
        require(joined.room() == room && joined.epoch() == now.epoch &&
                joined.sequence() == now.sequence);
        require(joined.replayed() <= now.history_messages && mine.size() == 1 + joined.replayed());
        // The replay ends at the room's last message, without a gap.
        for (std::size_t i = 1; i < mine.size(); ++i) {
          require(mine[i].has_message());
          const v1::Message& message = mine[i].message();
          require(message.room() == room && message.epoch() == now.epoch &&
                  message.sequence() == now.sequence - joined.replayed() + i);
        }
        // Members: the distinct users with a stream in the room, the sender's included.
        std::set<std::string> members;
        for (std::size_t stream = 0; stream < kStreams; ++stream) {
          if (streams_[stream].rooms.contains(room)) {
            members.insert(user(stream));
          }
        }
        require(joined.members() == members.size());
        others_saw_presence(sender, room, v1::Presence::KIND_JOINED);
        return;
      }
      case Kind::left: {
        // The last to leave a room without history removes it.
        require(others_unchanged(before, after, room));
        const hub::RoomInfo& was = before.at(room);
        if (was.subscribers == 1 && was.history_messages == 0) {
          require(!after.contains(room));
        } else {
          require(after.at(room).subscribers + 1 == was.subscribers);
        }
        require(mine.empty());
        others_saw_presence(sender, room, v1::Presence::KIND_LEFT);
        return;
      }
      case Kind::published: {
        // Sequences within a room are contiguous from 1, and the message
        // reaches every stream in the room, the sender's before its ack.
        require(others_unchanged(before, after, room));
        const v1::Publish& publish = frame.publish();
        const std::uint64_t sequence = before.at(room).sequence + 1;
        require(outcome.publish.sequence == sequence && after.at(room).sequence == sequence);
        for (std::size_t stream = 0; stream < kStreams; ++stream) {
          const auto frames = received(stream);
          if (!streams_[stream].rooms.contains(room)) {
            require(frames.empty());
            continue;
          }
          require(frames.size() == (stream == sender ? 2 : 1) && frames[0].has_message());
          const v1::Message& message = frames[0].message();
          require(message.room() == room && message.sequence() == sequence &&
                  message.epoch() == after.at(room).epoch && message.sender() == user(sender) &&
                  message.client_message_id() == publish.client_message_id() &&
                  message.body() == publish.body());
        }
        require(mine[1].has_ack() && !mine[1].ack().duplicate() &&
                mine[1].ack().sequence() == sequence);
        sequences_[{user(sender), room, publish.client_message_id()}] = sequence;
        return;
      }
      case Kind::duplicate: {
        // Acknowledged with the first sequence, and delivered to no one again.
        const auto first =
            sequences_.find({user(sender), room, frame.publish().client_message_id()});
        require(first != sequences_.end() && outcome.publish.sequence == first->second);
        require(others_unchanged(before, after, ""));
        require(mine.size() == 1 && mine[0].has_ack() && mine[0].ack().duplicate() &&
                mine[0].ack().sequence() == first->second);
        nothing_to_others(sender);
        return;
      }
      case Kind::ended: {
        require(recorded_[sender].finished() && mine.empty());
        for (const auto& [name, info] : after) {
          require(before.contains(name) && info.sequence == before.at(name).sequence &&
                  info.subscribers <= before.at(name).subscribers);
        }
        for (std::size_t other = 0; other < kStreams; ++other) {
          for (const v1::ServerFrame& seen : received(other)) {
            require(other != sender && seen.has_presence() &&
                    seen.presence().kind() == v1::Presence::KIND_LEFT &&
                    seen.presence().user() == user(sender) &&
                    streams_[other].presence_rooms.contains(seen.presence().room()));
          }
        }
        return;
      }
    }
  }

  fuzz::Relay relay_;
  std::deque<fuzz::RecordedStream> recorded_;
  std::vector<ChatStream> streams_;
  std::size_t counts_[kStreams] = {};
  // The sequence each (user, room, client message id) was first published with.
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> sequences_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  fuzz::quiet_protobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Session session;
  std::size_t at = 0;
  for (std::size_t frames = 0; frames < kMaxFrames && at + 2 <= size; ++frames) {
    const std::size_t stream = data[at] % kStreams;
    const std::size_t length = std::min<std::size_t>(data[at + 1], size - at - 2);
    session.handle(stream, std::string_view(reinterpret_cast<const char*>(data) + at + 2, length));
    at += 2 + length;
  }
  return 0;
}
