#pragma once

// What the relay's fuzz targets share: a hub set up as relay-server sets it
// up, with the relay's own frame encoder, and streams that record every
// frame written to them, parsed back as a client parses it.

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "common/config.hpp"
#include "relay/hub/hub.hpp"
#include "relay/service/proto_frames.hpp"
#include "relay/service/relay_service.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::fuzz {

// An invariant of the code under test; a failure is a crash libFuzzer keeps.
inline void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// For LLVMFuzzerInitialize. Protobuf logs every string field that is not
// UTF-8 as it refuses the message, which would bury libFuzzer's reports.
inline void quiet_protobuf() { google::protobuf::SetLogHandler(nullptr); }

// Small limits, so that short inputs reach them.
inline common::RelayConfig small_config() {
  common::RelayConfig config;
  config.max_body_bytes = 64;
  config.max_rooms_per_stream = 3;
  config.max_rooms = 5;
  config.history_max_messages = 4;
  config.history_max_bytes = 1024;
  config.duplicate_window_max_ids = 3;
  config.history_query_max_messages = 3;
  // A linger hands flushes to the hub's timer thread; without one every
  // write starts on the thread that queued it, so a run depends on its
  // input alone.
  config.write_linger_us = 0;
  config.max_write_linger_us = 0;
  return config;
}

// A hub as the relay builds it, on a clock that advances by a millisecond per
// reading, so that epochs and times are the same on every run.
struct Relay {
  explicit Relay(common::RelayConfig config_ = small_config())
      : config(std::move(config_)), hub(service::hub_limits(config), encoder, [this] {
          now_us += 1000;
          return hub::HubTime{.wall_us = now_us, .steady_us = now_us};
        }) {}

  common::RelayConfig config;
  service::ProtoFrameEncoder encoder;
  std::int64_t now_us = 1'700'000'000'000'000;
  hub::Hub hub;
};

// One Chat or Follow stream as the hub sees it. Writes complete only when
// complete_write is called, as gRPC completes them later on another thread.
class RecordedStream final : public hub::FrameSink {
 public:
  RecordedStream(Relay& relay, std::string user, hub::SubscriberKind kind, bool batches)
      : subscriber_(relay.hub.make_subscriber(
            std::move(user), kind, *this,
            // What write_batching gives a client that asks.
            batches ? hub::WriteBatching{1024, 64 * 1024} : hub::WriteBatching{})) {}
  RecordedStream(const RecordedStream&) = delete;
  RecordedStream& operator=(const RecordedStream&) = delete;

  const hub::SubscriberPtr& subscriber() const { return subscriber_; }
  // Every frame written so far, batches unpacked, in order.
  const std::vector<v1::ServerFrame>& frames() const { return frames_; }
  bool finished() const { return finished_; }

  // Completes the write in flight, if any; returns whether there was one.
  bool complete_write() {
    if (!write_in_flight_) {
      return false;
    }
    write_in_flight_ = false;
    subscriber_->on_write_done(true);
    // A write that said more follows may have been kept back by gRPC until
    // the next: that one must come at once, or the stream end (which sends
    // what was kept back).
    require(!more_follows_ || write_in_flight_ || finished_);
    return true;
  }

  void start_write(std::span<const hub::FramePtr> frames, bool more_follows) override {
    require(!write_in_flight_ && !finished_ && !frames.empty());
    // Only a stream that does not batch has a backlog worth keeping back.
    require(!more_follows || frames.size() == 1);
    write_in_flight_ = true;
    more_follows_ = more_follows;
    std::vector<grpc::Slice> slices;
    require(service::wire_buffer(frames).Dump(&slices).ok());
    std::string bytes;
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    v1::ServerFrame frame;
    require(frame.ParseFromString(bytes));
    if (!frame.has_batch()) {
      require(frames.size() == 1);
      frames_.push_back(std::move(frame));
      return;
    }
    require(frames.size() > 1 && frame.batch().frames_size() == static_cast<int>(frames.size()));
    for (const v1::ServerFrame& inner : frame.batch().frames()) {
      require(!inner.has_batch() && inner.kind_case() != v1::ServerFrame::KIND_NOT_SET);
      frames_.push_back(inner);
    }
  }

  void finish(const hub::CloseReason& /*reason*/) override {
    require(!finished_ && !write_in_flight_);
    finished_ = true;
  }

 private:
  bool write_in_flight_ = false;
  bool more_follows_ = false;  // of the write in flight
  bool finished_ = false;
  std::vector<v1::ServerFrame> frames_;
  hub::SubscriberPtr subscriber_;
};

// The hub's rooms by name, to compare before and after a request.
using Rooms = std::map<std::string, hub::RoomInfo>;

inline Rooms rooms_of(const hub::Hub& hub) {
  Rooms rooms;
  for (hub::RoomInfo& info : hub.list_rooms()) {
    rooms.emplace(info.room, std::move(info));
  }
  return rooms;
}

// Completes writes until every stream is idle, as if every client read all
// that was sent to it.
inline void deliver_all(std::deque<RecordedStream>& streams) {
  for (bool wrote = true; wrote;) {
    wrote = false;
    for (RecordedStream& stream : streams) {
      wrote = stream.complete_write() || wrote;
    }
  }
}

}  // namespace relay::fuzz
