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
    if (!reopening) {
      listener_.on_status({ConnectionState::connecting, backoff.attempts(), {}, ""});
    }
    bool established = false;
    const grpc::Status status = follow_once(resumed, established, !reopening);
    if (established) {
      backoff.reset();
      resumed = true;
    }
    std::unique_lock lock(mutex_);
    if (stopping_) {
      return grpc::Status::OK;
    }
    reopening = std::exchange(reopen_, false);
    if (reopening) {
      continue;
    }
    // A token that ran out on an established stream is no reason to give
    // up: the next call fetches a fresh one, and only its refusal is final.
    const bool token_ran_out = established &&
                               status.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
                               !options_.channel.token.empty();
    if (is_fatal(status) && !token_ran_out) {
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
  if (auto why = add_caller_metadata(context, options_.user, options_.channel)) {
    return {grpc::StatusCode::FAILED_PRECONDITION, *why};
  }
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
            cannot_reach(options_.target, status.error_message(), options_.channel.tls)};
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
    // A Follow stream cannot take a fresh token: a new one replaces it, from
    // the positions this one reached, so nothing is missed or shown twice.
    std::lock_guard lock(mutex_);
    reopen_ = true;
    if (context_ != nullptr) {
      context_->TryCancel();
    }
  }
}

}  // namespace relay::cli
