#include "tests/integration/test_clients.hpp"

#include <doctest/doctest.h>
#include <grpcpp/generic/generic_stub.h>

namespace relay::testing {

std::shared_ptr<grpc::Channel> connect(const std::string& target) {
  grpc::ChannelArguments args;
  // Each client its own connection, as separate processes would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::Relay::Stub> stub(const std::string& target) {
  return v1::Relay::NewStub(connect(target));
}

std::unique_ptr<grpc::ClientContext> context_for(const std::string& user,
                                                 std::chrono::milliseconds deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!user.empty()) {
    context->AddMetadata("x-relay-user", user);
  }
  context->set_deadline(std::chrono::system_clock::now() + deadline);
  return context;
}

std::optional<std::string> trailer(const grpc::ClientContext& context, const std::string& key) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto found = trailers.find(key);
  if (found == trailers.end()) {
    return std::nullopt;
  }
  return std::string(found->second.data(), found->second.size());
}

grpc::Status send_raw_chat_frame(const std::string& target, const std::string& user,
                                 const std::string& bytes) {
  grpc::GenericStub generic(connect(target));
  grpc::CompletionQueue queue;
  auto context = context_for(user);
  auto call = generic.PrepareCall(context.get(), "/relay.v1.Relay/Chat", &queue);
  // Each step waits for its own completion: the tag is the step's number.
  auto wait = [&queue] {
    void* tag = nullptr;
    bool ok = false;
    queue.Next(&tag, &ok);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  wait();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  wait();
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  wait();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  wait();
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

RawAnswer raw_call(const std::string& target, const std::string& user, const std::string& method,
                   const std::vector<std::string>& messages) {
  grpc::GenericStub generic(connect(target));
  grpc::CompletionQueue queue;
  auto context = context_for(user);
  auto call = generic.PrepareCall(context.get(), "/relay.v1.Relay/" + method, &queue);
  // One operation at a time, each awaited; all bounded by the call's deadline.
  auto step = [&queue] {
    void* tag = nullptr;
    bool ok = false;
    return queue.Next(&tag, &ok) && ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  bool open = step();
  for (const auto& bytes : messages) {
    if (!open) {
      break;
    }
    grpc::Slice slice(bytes);
    call->Write(grpc::ByteBuffer(&slice, 1), reinterpret_cast<void*>(2));
    open = step();
  }
  call->WritesDone(reinterpret_cast<void*>(3));
  step();
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(4));
  const bool replied = step();
  RawAnswer answer;
  call->Finish(&answer.status, reinterpret_cast<void*>(5));
  step();
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  if (replied) {
    std::vector<grpc::Slice> slices;
    if (reply.Dump(&slices).ok()) {
      for (const auto& slice : slices) {
        answer.reply.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
    }
  }
  for (const auto& [key, value] : context->GetServerTrailingMetadata()) {
    answer.trailers.emplace(std::string(key.data(), key.size()),
                            std::string(value.data(), value.size()));
  }
  return answer;
}

void FrameQueue::push(v1::ServerFrame frame) {
  std::lock_guard lock(mutex_);
  if (frame.has_batch()) {
    ++batches_;
    for (auto& inner : *frame.mutable_batch()->mutable_frames()) {
      frames_.push_back(std::move(inner));
    }
  } else {
    frames_.push_back(std::move(frame));
  }
  changed_.notify_all();
}

std::size_t FrameQueue::batches() const {
  std::lock_guard lock(mutex_);
  return batches_;
}

void FrameQueue::close(grpc::Status status) {
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
  changed_.notify_all();
}

std::optional<v1::ServerFrame> FrameQueue::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [this] { return !frames_.empty() || status_; });
  if (frames_.empty()) {
    return std::nullopt;
  }
  auto frame = std::move(frames_.front());
  frames_.pop_front();
  return frame;
}

std::optional<grpc::Status> FrameQueue::wait_status(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [this] { return status_.has_value(); });
  return status_;
}

ChatClient::ChatClient(const std::string& target, const std::string& user, bool accept_batch,
                       const std::string& bearer_token)
    : stub_(stub(target)), context_(context_for(user, std::chrono::minutes(5))) {
  if (accept_batch) {
    context_->AddMetadata("x-relay-accept-batch", "1");
  }
  if (!bearer_token.empty()) {
    context_->AddMetadata("authorization", "Bearer " + bearer_token);
  }
  stream_ = stub_->Chat(context_.get());
  reader_ = std::thread([this] {
    v1::ServerFrame frame;
    while (stream_->Read(&frame)) {
      received_.push(frame);
    }
    received_.close(stream_->Finish());
  });
}

ChatClient::~ChatClient() {
  context_->TryCancel();
  reader_.join();
}

bool ChatClient::join(const std::string& room, std::optional<v1::Position> resume, bool presence) {
  v1::ClientFrame frame;
  frame.mutable_join()->set_room(room);
  frame.mutable_join()->set_presence(presence);
  if (resume) {
    *frame.mutable_join()->mutable_resume() = *resume;
  }
  return write(frame);
}

bool ChatClient::leave(const std::string& room) {
  v1::ClientFrame frame;
  frame.mutable_leave()->set_room(room);
  return write(frame);
}

bool ChatClient::publish(const std::string& room, const std::string& body, const std::string& id) {
  v1::ClientFrame frame;
  auto& publish = *frame.mutable_publish();
  publish.set_room(room);
  publish.set_body(body);
  publish.set_client_message_id(id);
  return write(frame);
}

bool ChatClient::write(const v1::ClientFrame& frame) { return stream_->Write(frame); }

std::optional<v1::ServerFrame> ChatClient::next(std::chrono::milliseconds timeout) {
  return received_.next(timeout);
}

std::optional<v1::ServerFrame> ChatClient::next_matching(
    const std::function<bool(const v1::ServerFrame&)>& match, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      return std::nullopt;
    }
    auto frame = next(left);
    if (!frame || match(*frame)) {
      return frame;
    }
  }
}

std::optional<v1::ServerFrame> ChatClient::next_of(v1::ServerFrame::KindCase kind,
                                                   std::chrono::milliseconds timeout) {
  return next_matching([kind](const v1::ServerFrame& f) { return f.kind_case() == kind; }, timeout);
}

grpc::Status ChatClient::finish(std::chrono::milliseconds timeout) {
  stream_->WritesDone();
  auto status = wait_status(timeout);
  return status ? *status : grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no status in time");
}

std::optional<grpc::Status> ChatClient::wait_status(std::chrono::milliseconds timeout) {
  return received_.wait_status(timeout);
}

FollowClient::FollowClient(const std::string& target, const v1::FollowRequest& request,
                           const std::string& user, const std::string& bearer_token)
    : stub_(stub(target)), context_(context_for(user, std::chrono::minutes(1))) {
  if (!bearer_token.empty()) {
    context_->AddMetadata("authorization", "Bearer " + bearer_token);
  }
  reader_ = stub_->Follow(context_.get(), request);
  thread_ = std::thread([this] {
    v1::ServerFrame frame;
    while (reader_->Read(&frame)) {
      received_.push(frame);
    }
    received_.close(reader_->Finish());
  });
}

FollowClient::~FollowClient() {
  context_->TryCancel();
  thread_.join();
}

v1::Joined join_and_wait(ChatClient& client, const std::string& room,
                         std::optional<v1::Position> resume, bool presence) {
  REQUIRE(client.join(room, resume, presence));
  const auto frame = client.next_matching([&room](const v1::ServerFrame& f) {
    return f.kind_case() == v1::ServerFrame::kJoined && f.joined().room() == room;
  });
  REQUIRE(frame);
  return frame->joined();
}

v1::Joined join_with_presence(ChatClient& client, const std::string& room) {
  return join_and_wait(client, room, std::nullopt, true);
}

v1::PublishAck publish_acked(ChatClient& client, const std::string& room, const std::string& body,
                             const std::string& id) {
  REQUIRE(client.publish(room, body, id));
  const auto frame = client.next_matching([&id](const v1::ServerFrame& f) {
    return f.kind_case() == v1::ServerFrame::kAck && f.ack().client_message_id() == id;
  });
  REQUIRE(frame);
  return frame->ack();
}

v1::Position position(std::uint64_t epoch, std::uint64_t sequence) {
  v1::Position result;
  result.set_epoch(epoch);
  result.set_sequence(sequence);
  return result;
}

v1::PublishRequest batch_message(const std::string& room, const std::string& body,
                                 const std::string& id) {
  v1::PublishRequest request;
  request.set_room(room);
  request.set_body(body);
  request.set_client_message_id(id);
  return request;
}

StalledReader::StalledReader(const std::string& target, const std::string& user)
    : stub_(stub(target)), context_(context_for(user, 60s)) {
  stream_ = stub_->Chat(context_.get());
}

StalledReader::~StalledReader() {
  if (!finished_) {
    context_->TryCancel();
    drain();
  }
}

bool StalledReader::join(const std::string& room) {
  v1::ClientFrame frame;
  frame.mutable_join()->set_room(room);
  v1::ServerFrame answer;
  return stream_->Write(frame) && stream_->Read(&answer) &&
         answer.kind_case() == v1::ServerFrame::kJoined;
}

grpc::Status StalledReader::drain() {
  v1::ServerFrame frame;
  while (stream_->Read(&frame)) {
    if (frame.kind_case() == v1::ServerFrame::kMessage) {
      sequences_.push_back(frame.message().sequence());
    }
  }
  finished_ = true;
  return stream_->Finish();
}

}  // namespace relay::testing
