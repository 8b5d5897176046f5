#include "cli/session/chat_session.hpp"

#include "cli/session/status_text.hpp"
#include "common/hello.hpp"
#include "common/metadata.hpp"
#include "common/token_bucket.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>

namespace relay::cli {
namespace {

std::int64_t steady_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string random_prefix() {
  std::random_device random;
  return fmt::format("{:08x}{:04x}", random(), random() & 0xffff);
}

// Reconnecting cannot mend these: the relay refuses who we are or what we send.
bool is_fatal(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         status.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
         status.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
}

}  // namespace

ChatSession::ChatSession(SessionOptions options, SessionListener& listener)
    : options_(std::move(options)),
      listener_(listener),
      channel_(make_channel(options_.target, options_.channel)),
      unchecked_channel_(make_unchecked_channel(options_.target, options_.channel)),
      stub_(v1::Relay::NewStub(channel_)),
      id_prefix_(random_prefix()),
      seen_(options_.seen_window) {}

ChatSession::~ChatSession() { stop(); }

void ChatSession::start() {
  supervisor_ = std::thread([this] { supervise(); });
}

void ChatSession::request_stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  changed_.notify_all();
}

void ChatSession::stop(std::chrono::milliseconds timeout) {
  if (!supervisor_.joinable()) {
    return;
  }
  request_stop();
  {
    std::unique_lock lock(mutex_);
    // The writer half-closes; the relay then ends the stream cleanly. A relay
    // that does not answer in time has the stream cancelled under it.
    if (!changed_.wait_for(lock, timeout, [this] { return supervisor_done_; }) && context_) {
      context_->TryCancel();
    }
  }
  supervisor_.join();
}

void ChatSession::join(const std::string& room) {
  std::lock_guard lock(mutex_);
  if (rooms_.try_emplace(room).second) {
    // Joined for a resend only: leave first, so that this join is answered.
    if (visiting_.erase(room) > 0) {
      v1::ClientFrame leave;
      leave.mutable_leave()->set_room(room);
      outbound_.push_back(std::move(leave));
    }
    outbound_.push_back(join_frame(room, rooms_[room], options_.presence));
    changed_.notify_all();
  }
}

void ChatSession::leave(const std::string& room) {
  std::lock_guard lock(mutex_);
  if (rooms_.erase(room) > 0) {
    v1::ClientFrame frame;
    frame.mutable_leave()->set_room(room);
    outbound_.push_back(std::move(frame));
    changed_.notify_all();
  }
}

std::optional<std::string> ChatSession::publish(const std::string& room, const std::string& body) {
  std::lock_guard lock(mutex_);
  if (unacked_.size() >= options_.max_unacked || body.size() > limits_.max_body_bytes) {
    return std::nullopt;
  }
  Pending pending{room, body, fmt::format("{}-{}", id_prefix_, next_id_++)};
  outbound_.push_back(publish_frame(pending));
  unacked_.push_back(std::move(pending));
  changed_.notify_all();
  return unacked_.back().client_message_id;
}

bool ChatSession::wait_all_acked(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [this] { return unacked_.empty() || stopping_; });
  return unacked_.empty();
}

bool ChatSession::wait_below_max_unacked(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout,
                    [this] { return unacked_.size() < options_.max_unacked || stopping_; });
  return unacked_.size() < options_.max_unacked;
}

bool ChatSession::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout,
                    [this] { return status_.state == ConnectionState::connected || stopping_; });
  return status_.state == ConnectionState::connected;
}

std::size_t ChatSession::unacked() const {
  std::lock_guard lock(mutex_);
  return unacked_.size();
}

std::vector<std::string> ChatSession::rooms() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> result;
  for (const auto& [room, state] : rooms_) {
    result.push_back(room);
  }
  return result;
}

std::uint64_t ChatSession::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

ConnectionStatus ChatSession::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void ChatSession::supervise() {
  common::Backoff backoff(options_.backoff);
  bool resumed = false;
  std::string last_error;
  for (;;) {
    set_status({ConnectionState::connecting, backoff.attempts(), {}, last_error});
    const RelayReach reach = wait_for_relay(
        *channel_, std::chrono::steady_clock::now() + options_.connect_timeout, [this] {
          std::lock_guard lock(mutex_);
          return stopping_;
        });
    if (reach == RelayReach::no_answer) {
      last_error = cannot_reach(options_.target, no_answer_within(options_.connect_timeout),
                                options_.channel.tls);
    } else if (reach != RelayReach::stopped) {
      // On a failing channel the stream fails at once, with gRPC's reason.
      bool established = false;
      const grpc::Status status = run_stream(resumed, established);
      if (established) {
        resumed = true;
        // A stream ended for its token proves nothing about the next one.
        if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED) {
          backoff.reset();
        }
      }
      // Only stop() cancels our stream: an end we asked for is not a failure.
      if (status.ok() || status.error_code() == grpc::StatusCode::CANCELLED) {
        last_error.clear();
      } else if (!established && status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        last_error = describe_refused_stream(status, options_.target, options_.channel.tls,
                                             *channel_, *unchecked_channel_);
      } else {
        last_error = describe_grpc_status(status);
      }
      if (is_fatal(status) && !token_ran_out(status, established, options_.channel.token)) {
        break;
      }
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        break;
      }
    }
    const auto wait = backoff.next();
    set_status({ConnectionState::reconnecting, backoff.attempts(), wait, last_error});
    if (!sleep_unless_stopping(wait)) {
      break;
    }
  }
  set_status({ConnectionState::closed, 0, {}, last_error});
  std::lock_guard lock(mutex_);
  supervisor_done_ = true;
  changed_.notify_all();
}

bool ChatSession::sleep_unless_stopping(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  return !changed_.wait_for(lock, wait, [this] { return stopping_; });
}

grpc::Status ChatSession::run_stream(bool resumed, bool& established) {
  grpc::ClientContext context;
  if (auto why = add_caller_metadata(context, options_.user, options_.channel)) {
    return {grpc::StatusCode::FAILED_PRECONDITION, *why};
  }
  context.AddMetadata(common::kAcceptBatchKey, common::kAcceptBatchYes);
  bool stream_over = false;  // guarded by mutex_
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return grpc::Status::CANCELLED;
    }
    context_ = &context;
  }
  auto stream = stub_->Chat(&context);
  // The relay's hello says the stream is up and which limits hold on it.
  stream->WaitForInitialMetadata();
  const auto hello = read_hello(context);
  established = hello.has_value();
  std::vector<v1::ErrorNotice> oversized;
  {
    std::lock_guard lock(mutex_);
    if (hello) {
      limits_ = *hello;
      oversized = drop_oversized_locked();
    }
    // A new stream has joined nothing: rejoin every room from where we are,
    // then resend every unacknowledged publish with its original id. A
    // publish to a room left before the old relay answered may or may not
    // have been published there: the room is visited (joined without
    // showing anything) just long enough to resend it and hear the answer.
    outbound_.clear();
    visiting_.clear();
    refresh_due_ms_.reset();
    for (const auto& [room, state] : rooms_) {
      outbound_.push_back(join_frame(room, state, options_.presence));
    }
    for (const auto& pending : unacked_) {
      // A visit shows nothing of the room, its presence included.
      if (!rooms_.contains(pending.room) && visiting_.insert(pending.room).second) {
        outbound_.push_back(join_frame(pending.room, RoomState{}, false));
      }
      outbound_.push_back(publish_frame(pending));
    }
  }
  for (const auto& notice : oversized) {
    listener_.on_error(notice);
  }
  if (established) {
    set_status({ConnectionState::connected, 0, {}, "", context.peer()});
  }
  std::thread writer([&] { write_loop(*stream, stream_over); });
  v1::ServerFrame frame;
  while (stream->Read(&frame)) {
    handle(frame, resumed);
  }
  {
    std::lock_guard lock(mutex_);
    stream_over = true;
    context_ = nullptr;
    changed_.notify_all();
  }
  writer.join();
  return stream->Finish();
}

std::optional<ChatSession::RelayLimits> ChatSession::read_hello(
    const grpc::ClientContext& context) const {
  const auto& metadata = context.GetServerInitialMetadata();
  const auto hello = metadata.find(common::kHelloKey);
  if (hello == metadata.end()) {
    return std::nullopt;
  }
  // Relays that do not announce a limit get the defaults'.
  const auto announced =
      common::parse_hello(std::string_view(hello->second.data(), hello->second.size()));
  RelayLimits limits{options_.max_body_bytes, 0, 0};
  if (announced.max_body_bytes) {
    limits.max_body_bytes = static_cast<std::size_t>(*announced.max_body_bytes);
  }
  limits.publish_rate = announced.publish_rate.value_or(0);
  limits.publish_burst = announced.publish_burst.value_or(0);
  return limits;
}

std::vector<v1::ErrorNotice> ChatSession::drop_oversized_locked() {
  std::vector<v1::ErrorNotice> notices;
  std::erase_if(unacked_, [&](const Pending& pending) {
    if (pending.body.size() <= limits_.max_body_bytes) {
      return false;
    }
    v1::ErrorNotice notice;
    notice.set_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    notice.set_message(fmt::format("not sent: {} bytes, and the relay takes at most {}",
                                   pending.body.size(), limits_.max_body_bytes));
    notice.set_room(pending.room);
    notice.set_client_message_id(pending.client_message_id);
    notices.push_back(std::move(notice));
    ++refused_;
    return true;
  });
  changed_.notify_all();
  return notices;
}

void ChatSession::write_loop(Stream& stream, const bool& stream_over) {
  // Paced below the relay's limit for this stream (arrivals jitter, and the
  // relay's bucket must never run dry), so it never refuses a publish for its
  // rate.
  const RelayLimits limits = [this] {
    std::lock_guard lock(mutex_);
    return limits_;
  }();
  common::TokenBucket pace(limits.publish_rate * 0.9, std::max(1.0, limits.publish_burst / 2));
  for (;;) {
    v1::ClientFrame frame;
    std::optional<std::uint32_t> refresh_ends_in_ms;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(
          lock, [&] { return stream_over || stopping_ || !outbound_.empty() || refresh_due_ms_; });
      if (stream_over) {
        return;
      }
      refresh_ends_in_ms = std::exchange(refresh_due_ms_, std::nullopt);
    }
    if (refresh_ends_in_ms) {
      // Ahead of any publish waiting for its pace: the deadline does not wait.
      auto refresh = refresh_frame(*refresh_ends_in_ms);
      if (refresh && !stream.Write(*refresh)) {
        return;
      }
      continue;
    }
    {
      std::unique_lock lock(mutex_);
      if (stream_over) {
        return;
      }
      if (outbound_.empty()) {
        break;  // stopping, and everything typed has been written
      }
      if (outbound_.front().has_publish()) {
        // Stopping does not end these waits: the queue is still written at
        // the relay's pace until stop() gives up and cancels the stream.
        if (const auto now = std::chrono::steady_clock::now(); now < publish_not_before_) {
          changed_.wait_until(lock, publish_not_before_,
                              [&] { return stream_over || refresh_due_ms_; });
          continue;
        }
        if (const auto wait = pace.wait_us(steady_now_us()); wait > 0) {
          changed_.wait_for(lock, std::chrono::microseconds(wait),
                            [&] { return stream_over || refresh_due_ms_; });
          continue;
        }
        pace.try_take(steady_now_us());
      }
      frame = std::move(outbound_.front());
      outbound_.pop_front();
    }
    if (!stream.Write(frame)) {
      return;  // the stream is broken; the reader sees it end
    }
  }
  stream.WritesDone();
}

void ChatSession::handle(const v1::ServerFrame& frame, bool resumed) {
  switch (frame.kind_case()) {
    case v1::ServerFrame::kBatch:
      for (const auto& inner : frame.batch().frames()) {
        handle(inner, resumed);
      }
      return;
    case v1::ServerFrame::kMessage:
      handle_message(frame.message());
      return;
    case v1::ServerFrame::kJoined: {
      const auto& joined = frame.joined();
      {
        std::lock_guard lock(mutex_);
        const auto it = rooms_.find(joined.room());
        if (it == rooms_.end()) {
          return;  // left meanwhile
        }
        RoomState& state = it->second;
        if (joined.epoch_changed()) {
          state.sequence = 0;  // the replay starts at the new epoch's beginning
        } else if (!state.positioned) {
          state.sequence = joined.sequence();  // live from here
        }
        state.epoch = joined.epoch();
        state.positioned = true;
      }
      listener_.on_joined(joined, resumed);
      return;
    }
    case v1::ServerFrame::kPresence: {
      {
        std::lock_guard lock(mutex_);
        if (!rooms_.contains(frame.presence().room())) {
          return;  // a room visited to resend, or left meanwhile
        }
      }
      listener_.on_presence(frame.presence());
      return;
    }
    case v1::ServerFrame::kAck: {
      {
        std::lock_guard lock(mutex_);
        settle_locked(frame.ack().client_message_id());
        changed_.notify_all();
      }
      listener_.on_ack(frame.ack());
      return;
    }
    case v1::ServerFrame::kError: {
      {
        // A refused publish is told to the user and not retried, but one
        // refused by a relay that is shutting down goes to the next one, and
        // one refused for the user's rate (which other sessions of the same
        // user share) is sent again when the relay says it may be.
        std::lock_guard lock(mutex_);
        const auto& error = frame.error();
        if (error.retry_after_ms() > 0 && retry_later_locked(error)) {
          return;
        }
        // A room visited to resend could not be joined: the resends are
        // refused next, and reported then; there is nothing to leave.
        if (error.client_message_id().empty() && visiting_.erase(error.room()) > 0) {
          return;
        }
        if (!error.client_message_id().empty() &&
            error.code() != static_cast<int>(grpc::StatusCode::UNAVAILABLE) &&
            settle_locked(error.client_message_id())) {
          ++refused_;
          changed_.notify_all();
        }
        // A refused join (bad name, too many rooms): not a room of ours, so
        // not one to rejoin on every reconnect.
        // Nor one a refreshed token took away.
        const auto room = rooms_.find(error.room());
        const bool revoked = error.code() == static_cast<int>(grpc::StatusCode::PERMISSION_DENIED);
        if (error.client_message_id().empty() && room != rooms_.end() &&
            (!room->second.positioned || revoked) &&
            error.code() != static_cast<int>(grpc::StatusCode::ALREADY_EXISTS)) {
          rooms_.erase(room);
        }
      }
      listener_.on_error(frame.error());
      return;
    }
    case v1::ServerFrame::kTokenExpiring: {
      // The writer fetches the token: a command must not hold up reading.
      std::lock_guard lock(mutex_);
      refresh_due_ms_ = frame.token_expiring().ends_in_ms();
      changed_.notify_all();
      return;
    }
    case v1::ServerFrame::kTokenRefreshed:
    // The session forgot the room when it sent Leave, or at the notice that
    // comes before a refresh's Left.
    case v1::ServerFrame::kLeft:
    case v1::ServerFrame::KIND_NOT_SET:
      return;
  }
}

std::optional<v1::ClientFrame> ChatSession::refresh_frame(std::uint32_t ends_in_ms) {
  std::string why;
  auto token = fetch_token(options_.channel.token, why);
  if (!token) {
    listener_.on_error(token_refresh_failed(why, ends_in_ms));
    return std::nullopt;
  }
  v1::ClientFrame frame;
  frame.mutable_refresh()->set_token(std::move(*token));
  return frame;
}

void ChatSession::handle_message(const v1::Message& message) {
  {
    std::lock_guard lock(mutex_);
    const auto it = rooms_.find(message.room());
    if (it == rooms_.end()) {
      return;
    }
    RoomState& state = it->second;
    // Replay overlapping what this room already showed.
    if (message.epoch() == state.epoch && message.sequence() <= state.sequence) {
      return;
    }
    state.epoch = message.epoch();
    state.sequence = message.sequence();
  }
  // A resend that a restarted relay could not recognise, already shown.
  if (seen_.seen_before(message)) {
    return;
  }
  listener_.on_message(message);
}

bool ChatSession::retry_later_locked(const v1::ErrorNotice& error) {
  const auto pending = std::find_if(unacked_.begin(), unacked_.end(), [&](const Pending& p) {
    return p.client_message_id == error.client_message_id();
  });
  if (pending == unacked_.end()) {
    return false;
  }
  outbound_.push_front(publish_frame(*pending));
  publish_not_before_ =
      std::max(publish_not_before_, std::chrono::steady_clock::now() +
                                        std::chrono::milliseconds(error.retry_after_ms()));
  changed_.notify_all();
  return true;
}

bool ChatSession::settle_locked(const std::string& client_message_id) {
  const auto it = std::find_if(unacked_.begin(), unacked_.end(), [&](const Pending& p) {
    return p.client_message_id == client_message_id;
  });
  if (it == unacked_.end()) {
    return false;
  }
  const std::string room = it->room;
  unacked_.erase(it);
  // The last resend to a visited room is answered: leave it again.
  const bool more_for_room = std::any_of(unacked_.begin(), unacked_.end(),
                                         [&](const Pending& p) { return p.room == room; });
  if (!more_for_room && visiting_.erase(room) > 0) {
    v1::ClientFrame frame;
    frame.mutable_leave()->set_room(room);
    outbound_.push_back(std::move(frame));
  }
  return true;
}

void ChatSession::set_status(ConnectionStatus status) {
  {
    std::lock_guard lock(mutex_);
    status_ = status;
    changed_.notify_all();
  }
  listener_.on_status(status);
}

v1::ClientFrame ChatSession::join_frame(const std::string& room, const RoomState& state,
                                        bool presence) {
  v1::ClientFrame frame;
  frame.mutable_join()->set_room(room);
  frame.mutable_join()->set_presence(presence);
  if (state.positioned) {
    frame.mutable_join()->mutable_resume()->set_epoch(state.epoch);
    frame.mutable_join()->mutable_resume()->set_sequence(state.sequence);
  }
  return frame;
}

v1::ClientFrame ChatSession::publish_frame(const Pending& pending) {
  v1::ClientFrame frame;
  auto& publish = *frame.mutable_publish();
  publish.set_room(pending.room);
  publish.set_body(pending.body);
  publish.set_client_message_id(pending.client_message_id);
  return frame;
}

}  // namespace relay::cli
