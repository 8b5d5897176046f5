#include "cli/bench/grpc_crowd.hpp"

#include <fmt/format.h>

#include "common/metadata.hpp"

namespace relay::cli::bench {

GrpcCrowd::GrpcCrowd(const std::vector<Member>& members, bool accept_batch) {
  streams_.reserve(members.size());
  for (const Member& member : members) {
    auto stream = std::make_unique<Stream>();
    stream->context.AddMetadata(common::kUserKey, member.user);
    if (accept_batch) {
      stream->context.AddMetadata(common::kAcceptBatchKey, common::kAcceptBatchYes);
    }
    stream->join.mutable_join()->set_room(member.room);
    stream->call = member.stub->PrepareCall(
        &stream->context, fmt::format("/{}/Chat", v1::Relay::service_full_name()), &queue_);
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

void GrpcCrowd::advance_locked(Stream& stream, bool ok) {
  if (stream.step == Step::finishing) {
    stream.step = Step::finished;
    ++finished_;
    if (stream.joined && stream.status.error_code() != grpc::StatusCode::CANCELLED) {
      ++ended_early_;
    }
    return;
  }
  if (dismissing_) {
    finish_locked(stream);
    return;
  }
  if (!ok) {
    stream.step = Step::failed;
    ++failed_;
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
    case Step::reading: {
      bool joined = false;
      parse_frame(stream.in, [&joined](const v1::ServerFrame& frame) {
        joined = frame.kind_case() == v1::ServerFrame::kJoined;
      });
      if (joined) {
        stream.step = Step::idle;
        stream.joined = true;
        ++joined_;
      } else {
        stream.call->Read(&stream.in, &stream);
      }
      return;
    }
    case Step::idle:
    case Step::failed:
    case Step::finishing:
    case Step::finished:
      return;
  }
}

void GrpcCrowd::finish_locked(Stream& stream) {
  stream.step = Step::finishing;
  stream.call->Finish(&stream.status, &stream);
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
  for (auto& stream : streams_) {
    stream->context.TryCancel();
    // Those with an operation outstanding finish when it completes.
    if (stream->step == Step::idle || stream->step == Step::failed) {
      finish_locked(*stream);
    }
  }
  changed_.wait(lock, [this] { return finished_ == streams_.size(); });
  const std::size_t ended_early = ended_early_;
  lock.unlock();
  queue_.Shutdown();
  driver_.join();
  return ended_early;
}

}  // namespace relay::cli::bench
