#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "jetstream.hpp"

namespace relay::bench::nats_positions {

// The room's own counter, in the counted layout's messages.
inline constexpr char kRoomCounterHeader[] = "Relay-Room-Seq";

enum class Layout {
  // (a) One stream for all rooms, a subject per room; position = stream sequence.
  one_stream,
  // (b) A stream per room; position = that stream's sequence.
  stream_per_room,
  // (c) As (a), but each publish names the room's last stream sequence
  // (Nats-Expected-Last-Subject-Sequence) and carries the room's own counter,
  // so a room keeps a contiguous numbering at the price of one publish in
  // flight per room.
  one_stream_counted,
};

// Where each room lives and where its messages are.
struct RoomSet {
  Layout layout = Layout::one_stream;
  std::vector<std::string> subjects;
  std::vector<std::string> streams;
  // Stream sequences of each room's first and last message, from the acks.
  std::vector<std::uint64_t> first_sequence;
  std::vector<std::uint64_t> last_sequence;
  // Messages each room holds (the counter of layout one_stream_counted).
  std::vector<std::uint64_t> count;
};

struct PublishStats {
  double seconds = 0;
  double messages_per_second = 0;
  double ack_p50_us = 0;
  double ack_p99_us = 0;
  std::uint64_t errors = 0;
  std::uint64_t duplicates = 0;
};

// Publishes with Nats-Msg-Id headers, asynchronously with at most `window`
// publishes awaiting their ack, and times each ack.
class Publisher {
 public:
  Publisher(natsConnection* connection, RoomSet& rooms, std::size_t window, std::size_t body_bytes);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // The room's first message, waiting for its ack, as a relay creating the
  // room would.
  void publish_first(std::size_t room);
  // `count` messages round-robin over rooms [0, rooms_used), with ids
  // `prefix`-N, N unique within the run (the dedupe window spans the run).
  PublishStats publish(const std::string& prefix, std::size_t count, std::size_t rooms_used);

  jsCtx* context() const { return context_.get(); }

 private:
  static void on_ack(jsCtx* context, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                     void* closure);
  void acknowledged(natsMsg* message, const jsPubAck* ack);
  MessagePtr make_message(std::size_t room, const std::string& id);

  RoomSet& rooms_;
  const std::size_t window_;
  const std::string body_;
  ContextPtr context_;

  std::mutex mutex_;
  std::condition_variable changed_;
  // All guarded by mutex_.
  std::size_t in_flight_ = 0;
  std::size_t rooms_used_ = 1;
  std::vector<bool> room_in_flight_;
  std::vector<std::int64_t> sent_ns_;
  std::vector<std::int64_t> latency_ns_;
  std::int64_t last_ack_ns_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t duplicates_ = 0;
};

}  // namespace relay::bench::nats_positions
