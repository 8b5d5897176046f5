#include "relay/service/proto_frames.hpp"

namespace relay::service {
namespace {

grpc::Slice serialize(const google::protobuf::MessageLite& message) {
  const std::size_t size = message.ByteSizeLong();
  grpc_slice slice = grpc_slice_malloc(size);
  message.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(slice));
  return grpc::Slice(slice, grpc::Slice::STEAL_REF);
}

}  // namespace

SliceFrame::SliceFrame(const google::protobuf::MessageLite& message) : slice_(serialize(message)) {}

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
