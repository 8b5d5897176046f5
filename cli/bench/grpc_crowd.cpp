#include "cli/bench/grpc_crowd.hpp"

namespace relay::cli::bench {

GrpcCrowd::GrpcCrowd(const std::vector<Member>& members, bool accept_batch) {
  streams_.reserve(members.size());
  for (const Member& member : members) {
    auto stream = std::make_unique<Stream>();
    add_subscriber_metadata(stream->context, member.user, accept_batch);
    stream->join.mutable_join()->set_room(member.room);
    stream->call = member.stub->PrepareCall(&stream->context, chat_method(), &queue_);
    streams_.push_back(std::move(stream));
  }
  driver_ = std::thread([this] { drive(); });
  for (auto& stream : streams_) {
    stream->call->StartCall(stream.get());
  }
}

GrpcCrowd::~GrpcCrowd() { dismiss(); }

void GrpcCrowd::drive() {
  void* tag = nullptr;
  bool ok = false;
  while (queue_.Next(&tag, &ok)) {
    std::lock_guard lock(mutex_);
    advance_locked(*static_cast<Stream*>(tag), ok);
    changed_.notify_all();
  }
}

namespace {

bool has_joined(const v1::ServerFrame& frame) {
  if (frame.has_batch()) {
    for (const auto& inner : frame.batch().frames()) {
      if (has_joined(inner)) {
        return true;
      }
    }
  }
  return frame.has_joined();
}

}  // namespace

void GrpcCrowd::advance_locked(Stream& stream, bool ok) {
  if (stream.step == Step::finishing) {
    stream.step = Step::finished;
    ++finished_;
    return;
  }
  if (!ok) {
    // Cancelled by dismiss(), or ended by the server: either way the status
    // is what is left to collect.
    if (!dismissing_) {
      ++(stream.joined ? ended_early_ : failed_);
    }
    stream.step = Step::finishing;
    stream.call->Finish(&stream.status, &stream);
    return;
  }
  switch (stream.step) {
    case Step::starting:
      stream.step = Step::joining;
      stream.call->Write(stream.join, &stream);
      return;
    case Step::joining:
      stream.step = Step::reading;
      stream.call->Read(&stream.in, &stream);
      return;
    case Step::reading:
      if (!stream.joined) {
        parse_frame(stream.in,
                    [&stream](const v1::ServerFrame& frame) { stream.joined = has_joined(frame); });
        joined_ += stream.joined ? 1 : 0;
      }
      stream.in.Clear();
      stream.call->Read(&stream.in, &stream);
      return;
    case Step::finishing:
    case Step::finished:
      return;
  }
}

std::size_t GrpcCrowd::wait_joined(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [this] { return joined_ + failed_ == streams_.size(); });
  return streams_.size() - joined_;
}

std::size_t GrpcCrowd::dismiss() {
  if (dismissed_) {
    return 0;
  }
  dismissed_ = true;
  std::unique_lock lock(mutex_);
  dismissing_ = true;
  // Every stream has an operation outstanding until it finishes: it fails
  // now, and its stream then finishes.
  for (auto& stream : streams_) {
    stream->context.TryCancel();
  }
  changed_.wait(lock, [this] { return finished_ == streams_.size(); });
  const std::size_t ended_early = ended_early_;
  lock.unlock();
  queue_.Shutdown();
  driver_.join();
  return ended_early;
}

}  // namespace relay::cli::bench
