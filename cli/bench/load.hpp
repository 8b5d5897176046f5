#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "common/latency_histogram.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli::bench {

class Publisher;

// Bodies carry their send time (steady clock, ns, 16 hex digits) so that a
// subscriber on the same machine measures end-to-end latency; the rest is
// padding up to the message size. Hex keeps the body valid UTF-8.
std::string make_body(std::size_t size, std::chrono::steady_clock::time_point sent);
std::optional<std::chrono::steady_clock::time_point> sent_time(const std::string& body);

// Whether deliveries now count (after the warm-up, before the end).
struct Phase {
  std::atomic<bool> measuring{false};
};

// How far one room's fan-out has got: its publishers count what they sent,
// its first subscriber what it received. Publishing at full speed stays a
// window ahead of delivery, so the bench measures what the relay sustains,
// not how fast its queues grow (acks alone would not do: the relay acks
// before the fan-out is written). The first subscriber tells the room's
// publishers of every delivery, so that a publisher waiting for the window
// goes on; the list is complete before any publisher starts.
struct RoomProgress {
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> delivered{0};
  std::vector<Publisher*> publishers;
};

// The bench's Chat streams read the relay's frames as bytes and parse them
// with parse_frame.
using ChatStub = grpc::TemplatedGenericStub<v1::ClientFrame, grpc::ByteBuffer>;
using ChatReactor = grpc::ClientBidiReactor<v1::ClientFrame, grpc::ByteBuffer>;

// Starts preparing a Chat call on `reactor`, which then calls StartCall.
void prepare_chat(ChatStub& stub, grpc::ClientContext* context, ChatReactor* reactor);

// Parses the frame in `bytes`, releases them, and hands the frame to
// `handle`, which must not keep it. False if the bytes are not a frame.
bool parse_frame(grpc::ByteBuffer& bytes,
                 const std::function<void(const v1::ServerFrame&)>& handle);

// What one subscriber stream saw while measuring.
struct StreamTally {
  std::uint64_t delivered = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
};

// One subscriber stream on the callback API: it joins a room and reads until
// told to stop, checking that sequences are contiguous and recording the
// latency of every delivery. Callbacks run on gRPC's threads, one read at a
// time, so its counters need no lock until Finish, after which the main
// thread reads them.
class SubscriberStream final : public ChatReactor {
 public:
  // `progress`, when given, counts every message this stream receives.
  SubscriberStream(ChatStub& stub, const std::string& room, const Phase& phase, bool accept_batch,
                   RoomProgress* progress);

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  // Blocks until the relay answered the join (false on timeout or failure).
  bool wait_joined(std::chrono::milliseconds timeout);
  // Cancels the stream; wait_done() then waits for OnDone. Apart, so that
  // thousands of streams are cancelled at once, not one after another.
  void cancel();
  void wait_done();
  std::uint64_t delivered_so_far() const { return delivered_.load(std::memory_order_relaxed); }
  StreamTally tally() const;
  // Null when the stream never received a message while measuring.
  const common::LatencyHistogram* latencies() const { return latencies_.get(); }
  // The relay ended the stream before stop() (a slow consumer, say), or
  // sent a frame that does not parse.
  bool ended_early() const;

 private:
  void handle(const v1::ServerFrame& frame);
  void handle(const v1::Message& message);

  const Phase& phase_;
  RoomProgress* const progress_;
  grpc::ClientContext context_;
  v1::ClientFrame join_;
  grpc::ByteBuffer in_;
  std::atomic<std::uint64_t> delivered_{0};
  std::uint64_t last_sequence_ = 0;
  std::uint64_t lost_ = 0;
  std::uint64_t duplicated_ = 0;
  // Allocated at the first measured delivery: idle streams carry none.
  std::unique_ptr<common::LatencyHistogram> latencies_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool joined_ = false;       // guarded by mutex_
  bool done_ = false;         // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  bool ended_early_ = false;  // guarded by mutex_
  bool malformed_ = false;    // guarded by mutex_
};

}  // namespace relay::cli::bench
