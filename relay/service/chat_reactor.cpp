#include "relay/service/chat_reactor.hpp"

#include <chrono>
#include <memory>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/validation.hpp"
#include "relay/service/proto_frames.hpp"
#include "relay/service/status.hpp"

namespace relay::service {
namespace {

// How long a client waits before resending a publish the backplane could not
// order for want of its broker.
constexpr std::int64_t kBrokerRetryUs = 1'000'000;
// Each Refresh costs a signature check: a client needs one per token.
constexpr double kRefreshesPerSecond = 1.0;
constexpr double kRefreshBurst = 3.0;

}  // namespace

ChatReactor::ChatReactor(ServiceContext& context, grpc::CallbackServerContext* call,
                         std::string user, Permissions permissions,
                         std::unique_ptr<StreamSlot> slot, std::int64_t token_expires_s)
    : context_(context),
      permissions_(std::move(permissions)),
      slot_(std::move(slot)),
      connection_(context.connections, call->peer()),
      subscriber_(context.hub.make_subscriber(std::move(user), hub::SubscriberKind::chat, *this,
                                              write_batching(*call), connection_.connection())),
      stuck_write_(call),
      // A reconnecting client rejoins all its rooms at once, and may leave and
      // join a few more: that much is never refused.
      join_rate_(context.config.join_rate_per_second,
                 2.0 * static_cast<double>(context.config.max_rooms_per_stream)) {
  // Before anything can write or finish: initial metadata must go first.
  StartSendInitialMetadata();
  context_.streams.add(subscriber_);
  // Once everything a write touches exists, and before the read side runs.
  if (token_expires_s > 0) {
    lease_ = context.token_leases.add(subscriber_, token_expires_s, unix_now_ms());
  }
  spdlog::info("chat stream {} opened by {} from {}", subscriber_->id(), subscriber_->user(),
               connection_.peer());
  StartRead(&read_buffer_);
}

void ChatReactor::OnReadDone(bool ok) {
  // Starts this frame's writes after the StartRead below (Hub::DeferredWrites).
  const hub::Hub::DeferredWrites deferred(context_.hub);
  if (!ok) {
    // The client half-closed or went away: deliver what is queued, then end.
    leave_all_rooms();
    subscriber_->close({hub::CloseCode::ok, ""}, true);
    return;
  }
  if (lease_ != nullptr && context_.token_leases.end_if_expired(lease_, unix_now_ms())) {
    // The token ran out: the stream is ending, and nothing it sends counts.
    leave_all_rooms();
    return;
  }
  // Not a member: an idle stream keeps none of the frames it sent.
  v1::ClientFrame frame;
  const grpc::Status parsed =
      grpc::SerializationTraits<v1::ClientFrame>::Deserialize(&read_buffer_, &frame);
  if (!parsed.ok()) {
    refusals().refused(grpc::StatusCode::INVALID_ARGUMENT, "malformed frame, ending the stream");
    leave_all_rooms();
    subscriber_->close({hub::CloseCode::invalid_argument,
                        "malformed ClientFrame: the bytes are not a relay.v1.ClientFrame"},
                       true);
    return;
  }
  switch (frame.kind_case()) {
    case v1::ClientFrame::kJoin:
      handle(frame.join());
      break;
    case v1::ClientFrame::kLeave:
      handle(frame.leave());
      break;
    case v1::ClientFrame::kPublish:
      handle(frame.publish());
      break;
    case v1::ClientFrame::kRefresh:
      handle(frame.refresh());
      break;
    case v1::ClientFrame::KIND_NOT_SET:
      // A kind added to relay.proto after this relay was built parses as
      // unknown fields: "empty" would send its client looking for a bug.
      notice(grpc::StatusCode::INVALID_ARGUMENT,
             frame.GetReflection()->GetUnknownFields(frame).empty()
                 ? "empty ClientFrame: set one of join, leave, publish or refresh"
                 : "a ClientFrame of a kind this relay does not know (from a newer relay.proto?): "
                   "it knows join, leave, publish and refresh");
      break;
  }
  StartRead(&read_buffer_);
}

void ChatReactor::handle(const v1::Join& join) {
  const std::string& room = join.room();
  if (auto error = common::validate_room_name(room)) {
    notice(grpc::StatusCode::INVALID_ARGUMENT, *error, room);
    return;
  }
  if (!permissions_->allows(common::RoomRight::join, room)) {
    notice(grpc::StatusCode::PERMISSION_DENIED, not_permitted(common::RoomRight::join, room), room);
    return;
  }
  if (subscriber_->room_count() >= context_.config.max_rooms_per_stream &&
      !subscriber_->in_room(room)) {
    notice(grpc::StatusCode::RESOURCE_EXHAUSTED,
           "too many rooms on one stream (at most " +
               std::to_string(context_.config.max_rooms_per_stream) + "); leave one first",
           room);
    return;
  }
  const std::int64_t now_us = steady_now_us();
  if (!join_rate_.try_take(now_us)) {
    notice(grpc::StatusCode::RESOURCE_EXHAUSTED,
           fmt::format("joining too fast: at most {:g} joins per second on one stream",
                       context_.config.join_rate_per_second),
           room, "", join_rate_.wait_us(now_us));
    return;
  }
  hub::JoinOptions options{.presence = join.presence()};
  if (join.has_resume()) {
    options.resume = hub::Position{join.resume().epoch(), join.resume().sequence()};
  }
  const auto outcome = context_.hub.join(room, subscriber_, options, slot_->create_gate());
  switch (outcome.status) {
    case hub::JoinStatus::joined:
      // Debug, not info: joins are routine, and a client may make many.
      spdlog::debug("{} joined {} on stream {} (replayed {}, missed {})", user(), room,
                    subscriber_->id(), outcome.summary.replayed, outcome.summary.missed);
      return;
    case hub::JoinStatus::already_joined:
      notice(grpc::StatusCode::ALREADY_EXISTS, "this stream has already joined " + room, room);
      return;
    case hub::JoinStatus::resume_ahead:
      notice(grpc::StatusCode::INVALID_ARGUMENT,
             "resume position " + std::to_string(options.resume->sequence) +
                 " is ahead of the room's last sequence",
             room);
      return;
    case hub::JoinStatus::too_many_rooms:
      notice(grpc::StatusCode::RESOURCE_EXHAUSTED, too_many_rooms(context_.config), room);
      return;
    case hub::JoinStatus::creation_refused:
      notice(grpc::StatusCode::RESOURCE_EXHAUSTED, too_many_creations(context_.config), room, "",
             slot_->creation_wait_us(steady_now_us()));
      return;
    case hub::JoinStatus::room_removed:       // Hub::join retries until it gets a live room
    case hub::JoinStatus::subscriber_closed:  // the stream is ending
      break;
  }
}

void ChatReactor::handle(const v1::Leave& leave) {
  const std::string& room = leave.room();
  if (!subscriber_->in_room(room)) {
    notice(grpc::StatusCode::FAILED_PRECONDITION,
           "cannot leave " + common::quote_for_humans(room) + ": this stream has not joined it",
           room);
    return;
  }
  context_.hub.leave(room, subscriber_);
  // Queued once the stream is out of the room, so every frame the room
  // queued for it comes before: the client knows when the room is done.
  send_answer(context_.hub, subscriber_, encode_left(room));
  spdlog::debug("{} left {} on stream {}", user(), room, subscriber_->id());
}

void ChatReactor::handle(const v1::Publish& publish) {
  const std::string& room = publish.room();
  const std::string& id = publish.client_message_id();
  if (auto error =
          common::validate_publish(room, id, publish.body(), context_.config.max_body_bytes)) {
    notice(grpc::StatusCode::INVALID_ARGUMENT, *error, room, id);
    return;
  }
  // Before the drain: sent again to another relay, it would be refused there too.
  if (!permissions_->allows(common::RoomRight::publish, room)) {
    notice(grpc::StatusCode::PERMISSION_DENIED, not_permitted(common::RoomRight::publish, room),
           room, id);
    return;
  }
  if (context_.draining.load()) {
    // Not accepted: the client keeps it and resends it to the next relay.
    notice(grpc::StatusCode::UNAVAILABLE, "relay shutting down; resend after reconnecting", room,
           id);
    return;
  }
  if (!subscriber_->in_room(room)) {
    notice(grpc::StatusCode::PERMISSION_DENIED, "join " + room + " before publishing to it", room,
           id);
    return;
  }
  if (const auto wait_us = slot_->try_publish(steady_now_us()); wait_us > 0) {
    notice(grpc::StatusCode::RESOURCE_EXHAUSTED, rate_limited(context_.config), room, id, wait_us);
    return;
  }
  // The subscriber, not the reactor, receives the ack: the backplane may
  // answer from its own thread after this stream has ended (and the reactor
  // is gone), and a finished subscriber drops it; the client resends the
  // message with the same id and is acknowledged then. The hub and the
  // configuration outlive every answer (see Backplane's destructor).
  // The room is joined, yet a slow-consumer close on another thread may have
  // just taken the stream out of it and removed it: recreating it is a
  // creation like any other.
  context_.backplane.publish(
      room, {user(), id, publish.body()}, slot_->create_gate(),
      [&hub = context_.hub, &config = context_.config, subscriber = subscriber_, room,
       id](const hub::PublishResult& result) {
        if (auto refusal = publish_refusal(result, config)) {
          // A broker out of reach is usually back soon: the client resends
          // then, on the same stream, rather than giving the message up.
          const bool unavailable = refusal->error_code() == grpc::StatusCode::UNAVAILABLE;
          send_answer(
              hub, subscriber,
              encode_error(static_cast<int>(refusal->error_code()), refusal->error_message(), room,
                           id, unavailable ? kBrokerRetryUs : 0));
          return;
        }
        send_answer(hub, subscriber,
                    encode_ack(room, id, result.epoch, result.sequence, result.duplicate));
      });
}

void ChatReactor::handle(const v1::Refresh& refresh) {
  if (lease_ == nullptr) {
    notice(grpc::StatusCode::FAILED_PRECONDITION,
           "this relay does not use tokens: there is nothing to refresh");
    return;
  }
  if (refresh_rate_ == nullptr) {
    refresh_rate_ = std::make_unique<common::TokenBucket>(kRefreshesPerSecond, kRefreshBurst);
  }
  if (const std::int64_t now_us = steady_now_us(); !refresh_rate_->try_take(now_us)) {
    notice(grpc::StatusCode::RESOURCE_EXHAUSTED,
           fmt::format("refreshing too fast: at most {:g} refreshes per second on one stream",
                       kRefreshesPerSecond),
           "", "", refresh_rate_->wait_us(now_us));
    return;
  }
  const std::int64_t now_ms = unix_now_ms();
  auto verified = context_.tokens->verify(refresh.token(), now_ms / 1000);
  if (const auto* refusal = std::get_if<std::string>(&verified)) {
    notice(grpc::StatusCode::UNAUTHENTICATED,
           "refresh refused: " + *refusal + "; the stream keeps its old token until it runs out");
    return;
  }
  auto& claims = std::get<common::TokenClaims>(verified);
  if (claims.user != user()) {
    notice(grpc::StatusCode::PERMISSION_DENIED,
           "refresh refused: the token is for another user; a stream keeps the user it was "
           "opened by");
    return;
  }
  switch (context_.token_leases.renew(lease_, claims.expires_s, now_ms)) {
    case TokenLeases::Renewal::renewed:
      break;
    case TokenLeases::Renewal::not_later:
      // Not a way to trade a narrower token for an older, broader one.
      notice(grpc::StatusCode::FAILED_PRECONDITION,
             "refresh refused: the token expires no later than the one this stream holds; send a "
             "fresh one");
      return;
    case TokenLeases::Renewal::ended:
      return;  // ended for its old token a moment ago
  }
  permissions_ = std::make_shared<const common::RoomPermissions>(std::move(claims.rooms));
  // The answer first, so that what follows reads as its consequence.
  send_answer(context_.hub, subscriber_, encode_token_refreshed(claims.expires_s));
  // The fresh token is the whole truth about this user's rooms from now on:
  // a room it does not grant is left as a Leave leaves it, with the reason.
  for (const auto& room : subscriber_->rooms()) {
    if (permissions_->allows(common::RoomRight::join, room)) {
      continue;
    }
    context_.hub.leave(room, subscriber_);
    notice(grpc::StatusCode::PERMISSION_DENIED,
           not_permitted(common::RoomRight::join, room) + ": left it", room);
    send_answer(context_.hub, subscriber_, encode_left(room));
  }
}

void ChatReactor::notice(grpc::StatusCode code, const std::string& message, const std::string& room,
                         const std::string& client_message_id, std::int64_t retry_after_us) {
  refusals().refused(code, message);
  send_answer(
      context_.hub, subscriber_,
      encode_error(static_cast<int>(code), message, room, client_message_id, retry_after_us));
}

RefusalLog& ChatReactor::refusals() {
  if (refusals_ == nullptr) {
    refusals_ = std::make_unique<RefusalLog>(
        fmt::format("chat stream {} of {}", subscriber_->id(), user()), context_.refusal_counts);
  }
  return *refusals_;
}

void ChatReactor::leave_all_rooms() {
  for (const auto& room : subscriber_->rooms()) {
    context_.hub.leave(room, subscriber_);
  }
}

void ChatReactor::OnWriteDone(bool ok) {
  // An idle stream keeps neither the bytes of its last write (about 300 B)
  // nor, through them, the frames it wrote.
  write_buffer_.Clear();
  subscriber_->on_write_done(ok);
}

void ChatReactor::OnCancel() {
  subscriber_->close({hub::CloseCode::cancelled, "cancelled by the client"}, false);
}

void ChatReactor::OnDone() {
  stuck_write_.disarm();
  // Every callback has run: the read side is idle and safe to touch here.
  leave_all_rooms();
  context_.token_leases.remove(lease_);
  context_.streams.remove(subscriber_);
  if (refusals_ != nullptr) {
    refusals_->flush();  // before the closing line, so that the log reads in order
  }
  spdlog::info("chat stream {} of {} closed", subscriber_->id(), user());
  delete this;
}

void ChatReactor::write_stuck_after_close(bool draining) {
  stuck_write_.arm(context_.config, draining,
                   fmt::format("chat stream {} of {}", subscriber_->id(), user()),
                   context_.stuck_write_cancels);
}

void ChatReactor::start_write(std::span<const hub::FramePtr> frames, bool more_follows) {
  write_buffer_ = wire_buffer(frames);
  StartWrite(&write_buffer_, write_options(more_follows));
}

void ChatReactor::finish(const hub::CloseReason& reason) {
  if (reason.code != hub::CloseCode::ok && reason.code != hub::CloseCode::cancelled) {
    spdlog::info("chat stream {} of {} ends: {}", subscriber_->id(), user(), reason.message);
  }
  Finish(to_status(reason));
}

}  // namespace relay::service
