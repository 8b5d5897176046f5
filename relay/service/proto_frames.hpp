#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "relay/hub/frame.hpp"
#include "relay/hub/subscriber.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::service {

// A server frame serialized into one gRPC slice. Slices are reference
// counted, so every write of the frame shares the same bytes: a ByteBuffer
// made from it takes a reference, not a copy.
//
// The bytes are preceded, in the same allocation, by the field header that
// makes them one entry of FrameBatch.frames, so a batched write takes one
// slice per frame rather than two.
class SliceFrame final : public hub::Frame {
 public:
  explicit SliceFrame(const google::protobuf::MessageLite& message);
  std::size_t size_bytes() const override { return frame_.size(); }
  // The serialized ServerFrame, as a lone write sends it.
  const grpc::Slice& slice() const { return frame_; }
  // The same bytes behind their FrameBatch.frames field header.
  const grpc::Slice& batch_entry() const { return entry_; }

 private:
  explicit SliceFrame(std::pair<grpc::Slice, std::size_t> entry);

  grpc::Slice entry_;
  grpc::Slice frame_;
};

inline const SliceFrame& slice_frame(const hub::FramePtr& frame) {
  // The relay's hub is only ever given frames made by ProtoFrameEncoder.
  return static_cast<const SliceFrame&>(*frame);
}

// What one write carries on a stream whose client opted in to batches, or
// one frame per write when it did not (see FrameBatch in relay.proto).
hub::WriteBatching write_batching(const grpc::CallbackServerContext& call);

// The bytes of one write: a lone frame as it is, several as one
// ServerFrame.batch. A batch is built from a few bytes of field headers
// between the frames' own shared slices, so no frame is copied or
// re-serialized.
grpc::ByteBuffer wire_buffer(std::span<const hub::FramePtr> frames);

// The options of a write whose frames are followed by more of the stream's
// (FrameSink::start_write): gRPC's buffer hint keeps such a write in the
// transport until the stream's next write, or until 64 KB wait there
// (the transport's write buffer), and completes it at once meanwhile. The
// stream's initial metadata must have been sent before: a hinted write that
// carries it never completes.
grpc::WriteOptions write_options(bool more_follows);

void to_proto(const hub::Message& message, v1::Message& out);

// The message a stored message frame carries, for History queries: rooms
// keep only the frame. False if the frame is not a message.
bool decode_message(const hub::FramePtr& frame, v1::Message& out);

// The relay's FrameEncoder: hub events become serialized ServerFrames.
class ProtoFrameEncoder final : public hub::FrameEncoder {
 public:
  hub::FramePtr encode_message(const hub::Message& message) override;
  hub::FramePtr encode_joined(const hub::JoinSummary& summary) override;
  hub::FramePtr encode_presence(const std::string& room, const std::string& user,
                                hub::PresenceKind kind) override;
};

hub::FramePtr encode_ack(const std::string& room, const std::string& client_message_id,
                         std::uint64_t epoch, std::uint64_t sequence, bool duplicate);
hub::FramePtr encode_error(int code, const std::string& message, const std::string& room,
                           const std::string& client_message_id, std::int64_t retry_after_us = 0);
hub::FramePtr encode_token_expiring(std::int64_t expires_at_s, std::int64_t ends_in_ms);
hub::FramePtr encode_token_refreshed(std::int64_t expires_at_s);
hub::FramePtr encode_left(const std::string& room);

}  // namespace relay::service
