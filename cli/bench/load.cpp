#include "cli/bench/load.hpp"

#include <memory>

#include <fmt/format.h>
#include <google/protobuf/arena.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "cli/bench/publisher.hpp"
#include "common/metadata.hpp"

namespace relay::cli::bench {
namespace {
constexpr std::size_t kStampDigits = 16;

// Room for a whole parsed batch (the relay sends at most 64 KiB of frames
// in one) on the arena's first block.
constexpr std::size_t kParseBlockBytes = 512 * 1024;
}  // namespace

std::string make_body(std::size_t size, std::chrono::steady_clock::time_point sent) {
  std::string body =
      fmt::format("{:016x}", static_cast<std::uint64_t>(sent.time_since_epoch().count()));
  if (size > body.size()) {
    body.resize(size, 'x');
  }
  return body;
}

std::optional<std::chrono::steady_clock::time_point> sent_time(const std::string& body) {
  if (body.size() < kStampDigits) {
    return std::nullopt;
  }
  std::uint64_t ticks = 0;
  for (std::size_t i = 0; i < kStampDigits; ++i) {
    const char c = body[i];
    const int digit = c >= 'a' ? c - 'a' + 10 : c - '0';
    ticks = ticks * 16 + static_cast<std::uint64_t>(digit);
  }
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(static_cast<std::int64_t>(ticks)));
}

void prepare_chat(ChatStub& stub, grpc::ClientContext* context, ChatReactor* reactor) {
  stub.PrepareBidiStreamingCall(context, fmt::format("/{}/Chat", v1::Relay::service_full_name()),
                                grpc::StubOptions(), reactor);
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

SubscriberStream::SubscriberStream(ChatStub& stub, const std::string& room, const Phase& phase,
                                   bool accept_batch, RoomProgress* progress)
    : phase_(phase), progress_(progress) {
  context_.AddMetadata(common::kUserKey, "bench");
  if (accept_batch) {
    context_.AddMetadata(common::kAcceptBatchKey, common::kAcceptBatchYes);
  }
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
    handle(frame.message());
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

void SubscriberStream::handle(const v1::Message& message) {
  const std::uint64_t sequence = message.sequence();
  if (last_sequence_ != 0) {
    if (sequence <= last_sequence_) {
      ++duplicated_;
      return;
    }
    lost_ += sequence - last_sequence_ - 1;
  }
  last_sequence_ = sequence;
  if (progress_ != nullptr) {
    progress_->delivered.fetch_add(1);
    for (Publisher* publisher : progress_->publishers) {
      publisher->window_moved();
    }
  }
  if (!phase_.measuring.load(std::memory_order_relaxed)) {
    return;
  }
  delivered_.fetch_add(1, std::memory_order_relaxed);
  if (const auto sent = sent_time(message.body())) {
    if (!latencies_) {
      latencies_ = std::make_unique<common::LatencyHistogram>();
    }
    const auto latency = std::chrono::steady_clock::now() - *sent;
    latencies_->record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
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

StreamTally SubscriberStream::tally() const { return {delivered_.load(), lost_, duplicated_}; }

}  // namespace relay::cli::bench
