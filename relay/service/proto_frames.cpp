#include "relay/service/proto_frames.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

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

// A field header: the tag, then the length as a varint.
std::size_t put_field_header(std::uint8_t tag, std::size_t length, std::uint8_t* out) {
  std::size_t n = 0;
  out[n++] = tag;
  auto value = static_cast<std::uint64_t>(length);
  while (value >= 0x80) {
    out[n++] = static_cast<std::uint8_t>(value | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<std::uint8_t>(value);
  return n;
}

constexpr std::size_t kMaxFieldHeaderBytes = 11;

// Small enough for gRPC to keep inline in the slice, without an allocation.
grpc::Slice field_header(std::uint8_t tag, std::size_t length) {
  std::array<std::uint8_t, kMaxFieldHeaderBytes> bytes{};
  const std::size_t n = put_field_header(tag, length, bytes.data());
  return grpc::Slice(bytes.data(), n);
}

// The message behind its FrameBatch.frames header, in one slice, and the
// header's size.
std::pair<grpc::Slice, std::size_t> serialize_entry(const google::protobuf::MessageLite& message) {
  const std::size_t size = message.ByteSizeLong();
  std::array<std::uint8_t, kMaxFieldHeaderBytes> header{};
  const std::size_t header_bytes = put_field_header(kFramesTag, size, header.data());
  grpc_slice slice = grpc_slice_malloc(header_bytes + size);
  std::uint8_t* start = GRPC_SLICE_START_PTR(slice);
  std::copy_n(header.data(), header_bytes, start);
  message.SerializeWithCachedSizesToArray(start + header_bytes);
  return {grpc::Slice(slice, grpc::Slice::STEAL_REF), header_bytes};
}

}  // namespace

SliceFrame::SliceFrame(const google::protobuf::MessageLite& message)
    : SliceFrame(serialize_entry(message)) {}

SliceFrame::SliceFrame(std::pair<grpc::Slice, std::size_t> entry)
    : entry_(std::move(entry.first)), frame_(entry_.sub(entry.second, entry_.size())) {}

hub::WriteBatching write_batching(const grpc::CallbackServerContext& call) {
  const auto& metadata = call.client_metadata();
  const auto found = metadata.find(common::kAcceptBatchKey);
  if (found == metadata.end() || found->second != common::kAcceptBatchYes) {
    return {};
  }
  return {kMaxBatchFrames, kMaxBatchBytes};
}

grpc::ByteBuffer wire_buffer(std::span<const hub::FramePtr> frames) {
  if (frames.size() == 1) {
    return grpc::ByteBuffer(&slice_frame(frames.front()).slice(), 1);
  }
  // The thread's, not the stream's: the ByteBuffer takes its own references,
  // so the list is needed only during this call, and a stream that once
  // wrote a batch of 1,024 frames would otherwise keep 32 KB for it.
  thread_local std::vector<grpc::Slice> scratch;
  scratch.clear();
  scratch.emplace_back();  // the batch header, once its length is known
  std::size_t length = 0;
  for (const auto& frame : frames) {
    const grpc::Slice& entry = slice_frame(frame).batch_entry();
    length += entry.size();
    scratch.push_back(entry);
  }
  scratch.front() = field_header(kBatchTag, length);
  grpc::ByteBuffer buffer(scratch.data(), scratch.size());
  scratch.clear();
  return buffer;
}

grpc::WriteOptions write_options(bool more_follows) {
  grpc::WriteOptions options;
  if (more_follows) {
    options.set_buffer_hint();
  }
  return options;
}

bool decode_message(const hub::FramePtr& frame, v1::Message& out) {
  const grpc::Slice& bytes = slice_frame(frame).slice();
  v1::ServerFrame parsed;
  if (!parsed.ParseFromArray(bytes.begin(), static_cast<int>(bytes.size())) ||
      !parsed.has_message()) {
    return false;
  }
  out.Swap(parsed.mutable_message());
  return true;
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
  joined.set_members(static_cast<std::uint32_t>(summary.members));
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
                           const std::string& client_message_id, std::int64_t retry_after_us) {
  v1::ServerFrame frame;
  auto& error = *frame.mutable_error();
  error.set_code(code);
  error.set_message(message);
  error.set_room(room);
  error.set_client_message_id(client_message_id);
  // Rounded up: a client that waits exactly this long is not refused again.
  error.set_retry_after_ms(static_cast<std::uint32_t>((retry_after_us + 999) / 1000));
  return std::make_shared<SliceFrame>(frame);
}

hub::FramePtr encode_token_expiring(std::int64_t expires_at_s, std::int64_t ends_in_ms) {
  v1::ServerFrame frame;
  frame.mutable_token_expiring()->set_expires_at_s(expires_at_s);
  frame.mutable_token_expiring()->set_ends_in_ms(static_cast<std::uint32_t>(ends_in_ms));
  return std::make_shared<SliceFrame>(frame);
}

hub::FramePtr encode_token_refreshed(std::int64_t expires_at_s) {
  v1::ServerFrame frame;
  frame.mutable_token_refreshed()->set_expires_at_s(expires_at_s);
  return std::make_shared<SliceFrame>(frame);
}

hub::FramePtr encode_left(const std::string& room) {
  v1::ServerFrame frame;
  frame.mutable_left()->set_room(room);
  return std::make_shared<SliceFrame>(frame);
}

}  // namespace relay::service
