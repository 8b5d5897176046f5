#include "cli/session/follower.hpp"

#include "cli/session/status_text.hpp"
#include "common/metadata.hpp"

#include <utility>

namespace relay::cli {
namespace {

bool is_fatal(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNIMPLEMENTED:
      return true;
    default:
      return false;
  }
}

}  // namespace

Follower::Follower(FollowOptions options, SessionListener& listener)
    : options_(std::move(options)),
      listener_(listener),
      channel_(make_channel(options_.target, options_.channel)),
      unchecked_channel_(make_unchecked_channel(options_.target, options_.channel)),
      stub_(v1::Relay::NewStub(channel_)),
      seen_(options_.seen_window) {
  for (const auto& room : options_.rooms) {
    positions_[room];
  }
}

grpc::Status Follower::run() {
  common::Backoff backoff(options_.backoff);
  bool resumed = false;
  // A stream replaced for a fresh token is not news to the user.
  bool reopening = false;
  for (;;) {
    const bool was_reopen = std::exchange(reopening, false);
    if (!was_reopen) {
      listener_.on_status({ConnectionState::connecting, backoff.attempts(), {}, ""});
    }
    bool established = false;
    const grpc::Status status = follow_once(resumed, established, !was_reopen);
    if (established) {
      resumed = true;
      // A stream ended for its token proves nothing about the next one.
      if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED) {
        backoff.reset();
      }
    }
    std::unique_lock lock(mutex_);
    if (stopping_) {
      return grpc::Status::OK;
    }
    reopening = std::exchange(reopen_, false);
    if (reopening) {
      continue;
    }
    // A fresh token refused at a reopen (a clock ahead of the relay's)
    // counts as one that ran out.
    if (is_fatal(status) &&
        !token_ran_out(status, established || was_reopen, options_.channel.token)) {
      return status;
    }
    const auto wait = backoff.next();
    lock.unlock();
    listener_.on_status({ConnectionState::reconnecting, backoff.attempts(), wait,
                         status.error_message().empty() ? "stream ended" : status.error_message()});
    lock.lock();
    if (stopped_.wait_for(lock, wait, [this] { return stopping_; })) {
      return grpc::Status::OK;
    }
  }
}

void Follower::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  if (context_ != nullptr) {
    context_->TryCancel();
  }
  stopped_.notify_all();
}

v1::FollowRequest Follower::request() const {
  v1::FollowRequest request;
  for (const auto& [room, position] : positions_) {
    auto& entry = *request.add_rooms();
    entry.set_room(room);
    entry.set_presence(options_.presence);
    if (position.known) {
      entry.mutable_resume()->set_epoch(position.epoch);
      entry.mutable_resume()->set_sequence(position.sequence);
    }
  }
  return request;
}

grpc::Status Follower::follow_once(bool resumed, bool& established, bool announce) {
  announce_ = announce;
  const auto reach = wait_for_relay(
      *channel_, std::chrono::steady_clock::now() + options_.connect_timeout, [this] {
        std::lock_guard lock(mutex_);
        return stopping_;
      });
  if (reach == RelayReach::stopped) {
    return grpc::Status::CANCELLED;
  }
  if (reach == RelayReach::no_answer) {
    return {grpc::StatusCode::UNAVAILABLE,
            cannot_reach(options_.target, no_answer_within(options_.connect_timeout),
                         options_.channel.tls)};
  }
  // Not wait_for_ready: on a failing channel the call fails at once with
  // gRPC's reason, for the user to see while run() retries.
  grpc::ClientContext context;
  context.AddMetadata(common::kAcceptBatchKey, common::kAcceptBatchYes);
  {
    std::lock_guard lock(mutex_);
    stream_token_ = std::exchange(next_token_, "");
  }
  if (stream_token_.empty() && !options_.channel.token.empty()) {
    std::string why;
    auto token = fetch_token(options_.channel.token, why);
    if (!token) {
      return {grpc::StatusCode::FAILED_PRECONDITION, why};
    }
    stream_token_ = std::move(*token);
  }
  add_caller_metadata(context, options_.user, stream_token_);
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return grpc::Status::CANCELLED;
    }
    context_ = &context;
  }
  auto reader = stub_->Follow(&context, request());
  v1::ServerFrame frame;
  while (reader->Read(&frame)) {
    if (!established) {
      established = true;
      if (announce) {
        listener_.on_status({ConnectionState::connected, 0, {}, ""});
      }
    }
    handle(frame, resumed);
  }
  {
    std::lock_guard lock(mutex_);
    context_ = nullptr;
  }
  const auto status = reader->Finish();
  if (!established && status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return {status.error_code(),
            describe_refused_stream(status, options_.target, options_.channel.tls, *channel_,
                                    *unchecked_channel_)};
  }
  return status;
}

void Follower::handle(const v1::ServerFrame& frame, bool resumed) {
  if (frame.has_batch()) {
    for (const auto& inner : frame.batch().frames()) {
      handle(inner, resumed);
    }
  } else if (frame.has_joined()) {
    const auto& joined = frame.joined();
    Position& position = positions_[joined.room()];
    if (joined.epoch_changed()) {
      position.sequence = 0;
    } else if (!position.known) {
      position.sequence = joined.sequence();
    }
    position.epoch = joined.epoch();
    position.known = true;
    if (announce_ || joined.missed() > 0 || joined.epoch_changed()) {
      listener_.on_joined(joined, resumed);
    }
  } else if (frame.has_message()) {
    const auto& message = frame.message();
    Position& position = positions_[message.room()];
    if (message.epoch() == position.epoch && message.sequence() <= position.sequence) {
      return;
    }
    position.epoch = message.epoch();
    position.sequence = message.sequence();
    if (!seen_.seen_before(message)) {
      listener_.on_message(message);
    }
  } else if (frame.has_presence()) {
    listener_.on_presence(frame.presence());
  } else if (frame.has_token_expiring()) {
    reopen_with_fresh_token(frame.token_expiring());
  }
}

void Follower::reopen_with_fresh_token(const v1::TokenExpiring& expiring) {
  // Make before break: the stream goes on until the relay ends it unless a
  // token other than its own can be had.
  std::string why;
  auto token = fetch_token(options_.channel.token, why);
  if (token && *token == stream_token_) {
    token.reset();
    why = "the token source still gives the token that runs out";
  }
  if (!token) {
    listener_.on_error(token_refresh_failed(why, expiring.ends_in_ms()));
    return;
  }
  std::lock_guard lock(mutex_);
  next_token_ = std::move(*token);
  reopen_ = true;
  if (context_ != nullptr) {
    context_->TryCancel();
  }
}

}  // namespace relay::cli
