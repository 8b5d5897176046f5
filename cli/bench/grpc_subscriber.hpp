#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "cli/bench/delivery.hpp"
#include "cli/bench/driver.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli::bench {

// The bench's Chat streams read the relay's frames as bytes and parse them
// with parse_frame.
using ChatStub = grpc::TemplatedGenericStub<v1::ClientFrame, grpc::ByteBuffer>;
using ChatReactor = grpc::ClientBidiReactor<v1::ClientFrame, grpc::ByteBuffer>;

// The Chat method as the generic stub names it.
std::string chat_method();
// Starts preparing a Chat call on `reactor`, which then calls StartCall.
void prepare_chat(ChatStub& stub, grpc::ClientContext* context, ChatReactor* reactor);
// A subscriber's call metadata: its user, and whether it takes batches.
void add_subscriber_metadata(grpc::ClientContext& context, const std::string& user,
                             bool accept_batch);

// Parses the frame in `bytes`, releases them, and hands the frame to
// `handle`, which must not keep it. False if the bytes are not a frame.
bool parse_frame(grpc::ByteBuffer& bytes,
                 const std::function<void(const v1::ServerFrame&)>& handle);

// One subscriber stream on the callback API: it joins a room and reads until
// told to stop, handing every message to its DeliveryLog, which checks that
// the relay's sequences are contiguous. Callbacks run on gRPC's threads, one
// read at a time.
class SubscriberStream final : public ChatReactor, public Subscriber {
 public:
  // `progress`, when given, counts every message this stream receives.
  SubscriberStream(ChatStub& stub, const std::string& room, const std::string& user,
                   const Phase& phase, bool accept_batch, RoomProgress* progress);

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  // Until the relay answered the join.
  bool wait_joined(std::chrono::milliseconds timeout) override;
  void cancel() override;
  // Until OnDone.
  void wait_done() override;
  // The relay ended the stream before cancel(), or sent a frame that does
  // not parse.
  bool ended_early() const override;
  const DeliveryLog& deliveries() const override { return log_; }

 private:
  void handle(const v1::ServerFrame& frame);

  grpc::ClientContext context_;
  v1::ClientFrame join_;
  grpc::ByteBuffer in_;
  DeliveryLog log_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool joined_ = false;       // guarded by mutex_
  bool done_ = false;         // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  bool ended_early_ = false;  // guarded by mutex_
  bool malformed_ = false;    // guarded by mutex_
};

}  // namespace relay::cli::bench
