#include "relay/service/proto_frames.hpp"

#include <array>
#include <cstdint>

#include "common/metadata.hpp"

namespace relay::service {
namespace {

// Bounds a batch within the 4 MiB a gRPC client accepts per message by
// default, with room to spare; a single frame can be as large as the relay's
// body limit allows and goes alone.
constexpr std::size_t kMaxBatchBytes = 64 * 1024;
constexpr std::size_t kMaxBatchFrames = 1024;

// Field headers of a length-delimited field: ServerFrame.batch (field 6) and
// FrameBatch.frames (field 1), wire type 2.
constexpr std::uint8_t kBatchTag = (6 << 3) | 2;
constexpr std::uint8_t kFramesTag = (1 << 3) | 2;

// The tag and the length as a varint: at most 11 bytes, which gRPC keeps
// inline in the slice itself, without an allocation.
grpc::Slice field_header(std::uint8_t tag, std::size_t length) {
  std::array<std::uint8_t, 11> bytes{};
  std::size_t n = 0;
  bytes[n++] = tag;
  auto value = static_cast<std::uint64_t>(length);
  while (value >= 0x80) {
    bytes[n++] = static_cast<std::uint8_t>(value | 0x80);
    value >>= 7;
  }
  bytes[n++] = static_cast<std::uint8_t>(value);
  return grpc::Slice(bytes.data(), n);
}

grpc::Slice serialize(const google::protobuf::MessageLite& message) {
  const std::size_t size = message.ByteSizeLong();
  grpc_slice slice = grpc_slice_malloc(size);
  message.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(slice));
  return grpc::Slice(slice, grpc::Slice::STEAL_REF);
}

}  // namespace

SliceFrame::SliceFrame(const google::protobuf::MessageLite& message) : slice_(serialize(message)) {}

hub::WriteBatching write_batching(const grpc::CallbackServerContext& call) {
  const auto& metadata = call.client_metadata();
  const auto found = metadata.find(common::kAcceptBatchKey);
  if (found == metadata.end() || found->second != common::kAcceptBatchYes) {
    return {};
  }
  return {kMaxBatchFrames, kMaxBatchBytes};
}

grpc::ByteBuffer wire_buffer(std::span<const hub::FramePtr> frames,
                             std::vector<grpc::Slice>& scratch) {
  if (frames.size() == 1) {
    return grpc::ByteBuffer(&slice_frame(frames.front()).slice(), 1);
  }
  scratch.clear();
  scratch.emplace_back();  // the batch header, once its length is known
  std::size_t length = 0;
  for (const auto& frame : frames) {
    const grpc::Slice& slice = slice_frame(frame).slice();
    scratch.push_back(field_header(kFramesTag, slice.size()));
    length += scratch.back().size() + slice.size();
    scratch.push_back(slice);
  }
  scratch.front() = field_header(kBatchTag, length);
  grpc::ByteBuffer buffer(scratch.data(), scratch.size());
  scratch.clear();
  return buffer;
}

void to_proto(const hub::Message& message, v1::Message& out) {
  out.set_room(message.room);
  out.set_sequence(message.sequence);
  out.set_epoch(message.epoch);
  out.set_sender(message.sender);
  out.set_client_message_id(message.client_message_id);
  out.set_server_time_us(message.server_time_us);
  out.set_body(message.body);
}

hub::FramePtr ProtoFrameEncoder::encode_message(const hub::Message& message) {
  v1::ServerFrame frame;
  to_proto(message, *frame.mutable_message());
  return std::make_shared<SliceFrame>(frame);
}

hub::FramePtr ProtoFrameEncoder::encode_joined(const hub::JoinSummary& summary) {
  v1::ServerFrame frame;
  auto& joined = *frame.mutable_joined();
  joined.set_room(summary.room);
  joined.set_epoch(summary.epoch);
  joined.set_sequence(summary.sequence);
  joined.set_replayed(summary.replayed);
  joined.set_missed(summary.missed);
  joined.set_epoch_changed(summary.epoch_changed);
  return std::make_shared<SliceFrame>(frame);
}

hub::FramePtr ProtoFrameEncoder::encode_presence(const std::string& room, const std::string& user,
                                                 hub::PresenceKind kind) {
  v1::ServerFrame frame;
  auto& presence = *frame.mutable_presence();
  presence.set_room(room);
  presence.set_user(user);
  presence.set_kind(kind == hub::PresenceKind::joined ? v1::Presence::KIND_JOINED
                                                      : v1::Presence::KIND_LEFT);
  return std::make_shared<SliceFrame>(frame);
}

hub::FramePtr encode_ack(const std::string& room, const std::string& client_message_id,
                         std::uint64_t epoch, std::uint64_t sequence, bool duplicate) {
  v1::ServerFrame frame;
  auto& ack = *frame.mutable_ack();
  ack.set_room(room);
  ack.set_client_message_id(client_message_id);
  ack.set_epoch(epoch);
  ack.set_sequence(sequence);
  ack.set_duplicate(duplicate);
  return std::make_shared<SliceFrame>(frame);
}

hub::FramePtr encode_error(int code, const std::string& message, const std::string& room,
                           const std::string& client_message_id) {
  v1::ServerFrame frame;
  auto& error = *frame.mutable_error();
  error.set_code(code);
  error.set_message(message);
  error.set_room(room);
  error.set_client_message_id(client_message_id);
  return std::make_shared<SliceFrame>(frame);
}

}  // namespace relay::service
