#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace relay::hub {

// A server frame already serialized for the wire. The hub never looks inside:
// the service encodes frames for gRPC, the unit tests with plain strings. A
// frame is immutable once made, so one frame is shared by every delivery of a
// message and by the room's history, whatever the number of subscribers.
class Frame {
 public:
  virtual ~Frame() = default;
  virtual std::size_t size_bytes() const = 0;
};

using FramePtr = std::shared_ptr<const Frame>;

// A position in a room, as a client remembers it.
struct Position {
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
};

struct Message {
  std::string room;
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
  std::string sender;
  std::string client_message_id;
  std::int64_t server_time_us = 0;
  std::string body;
};

// A message as a room's history keeps it: its frame, shared with every
// delivery and replay, holds all of it, so the body is not kept twice. A
// History query decodes the frames it returns.
struct StoredMessage {
  std::uint64_t sequence = 0;
  FramePtr frame;
  // When it was published, on this relay's steady clock: the history's age
  // limit and the relay-wide budget (oldest of all rooms first) go by it,
  // which a step of the wall clock must not move.
  std::int64_t published_steady_us = 0;
};

using StoredMessagePtr = std::shared_ptr<const StoredMessage>;

// The answer to a join, sent before the replay.
struct JoinSummary {
  std::string room;
  std::uint64_t epoch = 0;
  std::uint64_t sequence = 0;
  std::uint64_t replayed = 0;
  std::uint64_t missed = 0;
  bool epoch_changed = false;
  // Distinct users with a chat stream in the room, the joining one included
  // when it is a chat stream.
  std::size_t members = 0;
};

enum class PresenceKind { joined, left };

// Turns what the hub wants to send into frames. Called under a room's lock, so
// an implementation must be quick and must not call back into the hub.
class FrameEncoder {
 public:
  virtual ~FrameEncoder() = default;
  virtual FramePtr encode_message(const Message& message) = 0;
  virtual FramePtr encode_joined(const JoinSummary& summary) = 0;
  virtual FramePtr encode_presence(const std::string& room, const std::string& user,
                                   PresenceKind kind) = 0;
};

}  // namespace relay::hub
