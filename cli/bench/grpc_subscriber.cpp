#include "cli/bench/grpc_subscriber.hpp"

#include <memory>

#include <fmt/format.h>
#include <google/protobuf/arena.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "common/metadata.hpp"

namespace relay::cli::bench {
namespace {
// Room for a whole parsed batch (the relay sends at most 64 KiB of frames
// in one) on the arena's first block.
constexpr std::size_t kParseBlockBytes = 512 * 1024;
}  // namespace

std::string chat_method() { return fmt::format("/{}/Chat", v1::Relay::service_full_name()); }

void add_subscriber_metadata(grpc::ClientContext& context, const std::string& user,
                             bool accept_batch) {
  context.AddMetadata(common::kUserKey, user);
  if (accept_batch) {
    context.AddMetadata(common::kAcceptBatchKey, common::kAcceptBatchYes);
  }
}

void prepare_chat(ChatStub& stub, grpc::ClientContext* context, ChatReactor* reactor) {
  stub.PrepareBidiStreamingCall(context, chat_method(), grpc::StubOptions(), reactor);
}

// In rooms and fanout the bench's core is the limit, and reading into a
// ServerFrame spent 40 % of it in malloc and free: parsing into the same
// frame again first clears its oneof, which frees the batch, its messages
// and their strings, so each read built them all anew. On an arena whose
// first block is this thread's, only the characters of strings too long to
// be stored inline (a message's body) still come from malloc.
bool parse_frame(grpc::ByteBuffer& bytes,
                 const std::function<void(const v1::ServerFrame&)>& handle) {
  // From the heap, so that it is suitably aligned for the arena and takes
  // memory only on threads that parse.
  thread_local const std::unique_ptr<char[]> block(new char[kParseBlockBytes]);
  google::protobuf::ArenaOptions options;
  options.initial_block = block.get();
  options.initial_block_size = kParseBlockBytes;
  google::protobuf::Arena arena(options);
  auto* frame = google::protobuf::Arena::CreateMessage<v1::ServerFrame>(&arena);
  bool parsed = false;
  {
    grpc::ProtoBufferReader reader(&bytes);
    parsed = reader.status().ok() && frame->ParseFromZeroCopyStream(&reader);
  }
  bytes.Clear();
  if (parsed) {
    handle(*frame);
  }
  return parsed;
}

SubscriberStream::SubscriberStream(ChatStub& stub, const std::string& room, const std::string& user,
                                   const Phase& phase, bool accept_batch, RoomProgress* progress)
    : log_(phase, progress) {
  add_subscriber_metadata(context_, user, accept_batch);
  join_.mutable_join()->set_room(room);
  prepare_chat(stub, &context_, this);
  StartWrite(&join_);
  StartRead(&in_);
  StartCall();
}

void SubscriberStream::OnWriteDone(bool) {}

void SubscriberStream::OnReadDone(bool ok) {
  if (!ok) {
    return;
  }
  if (!parse_frame(in_, [this](const v1::ServerFrame& frame) { handle(frame); })) {
    {
      std::lock_guard lock(mutex_);
      malformed_ = true;
    }
    context_.TryCancel();
    return;
  }
  StartRead(&in_);
}

void SubscriberStream::handle(const v1::ServerFrame& frame) {
  if (frame.has_message()) {
    // The relay numbers a room's messages itself: one origin, its sequence.
    const auto stamp = read_stamp(frame.message().body());
    log_.record(0, frame.message().sequence(), stamp ? std::optional(stamp->sent) : std::nullopt);
  } else if (frame.has_batch()) {
    for (const auto& inner : frame.batch().frames()) {
      handle(inner);
    }
  } else if (frame.has_joined()) {
    std::lock_guard lock(mutex_);
    joined_ = true;
    changed_.notify_all();
  }
}

void SubscriberStream::OnDone(const grpc::Status&) {
  std::lock_guard lock(mutex_);
  ended_early_ = !stopping_ || malformed_;
  done_ = true;
  changed_.notify_all();
}

bool SubscriberStream::wait_joined(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return joined_ || done_; }) && joined_;
}

void SubscriberStream::cancel() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  context_.TryCancel();
}

void SubscriberStream::wait_done() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return done_; });
}

bool SubscriberStream::ended_early() const {
  std::lock_guard lock(mutex_);
  return ended_early_;
}

}  // namespace relay::cli::bench
