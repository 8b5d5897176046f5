#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "relay/hub/frame.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::service {

// A server frame serialized into one gRPC slice. Slices are reference
// counted, so every write of the frame shares the same bytes: a ByteBuffer
// made from it takes a reference, not a copy.
class SliceFrame final : public hub::Frame {
 public:
  explicit SliceFrame(const google::protobuf::MessageLite& message);
  std::size_t size_bytes() const override { return slice_.size(); }
  grpc::ByteBuffer byte_buffer() const { return grpc::ByteBuffer(&slice_, 1); }

 private:
  grpc::Slice slice_;
};

inline const SliceFrame& slice_frame(const hub::FramePtr& frame) {
  // The relay's hub is only ever given frames made by ProtoFrameEncoder.
  return static_cast<const SliceFrame&>(*frame);
}

void to_proto(const hub::Message& message, v1::Message& out);

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
                           const std::string& client_message_id);

}  // namespace relay::service
