#include "relay/service/follow_reactor.hpp"

#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/validation.hpp"
#include "relay/service/proto_frames.hpp"
#include "relay/service/status.hpp"

namespace relay::service {

namespace {
constexpr int kMaxFollowedRooms = 64;
}  // namespace

std::optional<std::string> FollowReactor::validate(const v1::FollowRequest& request) {
  if (request.rooms_size() == 0 || request.rooms_size() > kMaxFollowedRooms) {
    return "follow 1 to " + std::to_string(kMaxFollowedRooms) + " rooms, not " +
           std::to_string(request.rooms_size());
  }
  std::set<std::string> seen;
  for (const auto& room : request.rooms()) {
    if (auto error = common::validate_room_name(room.room())) {
      return error;
    }
    if (!seen.insert(room.room()).second) {
      return "room " + room.room() + " is named twice";
    }
  }
  return std::nullopt;
}

FollowReactor::FollowReactor(ServiceContext& context, grpc::CallbackServerContext* call,
                             std::string user, std::unique_ptr<StreamSlot> slot,
                             std::int64_t token_expires_s, const v1::FollowRequest& request)
    : context_(context),
      peer_(call->peer()),
      slot_(std::move(slot)),
      connection_(context.connections, peer_),
      subscriber_(context.hub.make_subscriber(std::move(user), hub::SubscriberKind::follow, *this,
                                              write_batching(*call), connection_.connection())),
      stuck_write_(call) {
  // Before anything can write or finish. A first write would carry the
  // initial metadata, and one that gRPC's buffer hint keeps back (a replay's
  // first frame, see write_options) would then never complete in gRPC 1.51.
  StartSendInitialMetadata();
  context_.streams.add(subscriber_);
  spdlog::info("follow stream {} opened by {} from {} for {} rooms", subscriber_->id(),
               subscriber_->user(), peer_, request.rooms_size());
  const auto may_create = slot_->create_gate();
  for (const auto& room : request.rooms()) {
    hub::JoinOptions options{.presence = room.presence()};
    if (room.has_resume()) {
      options.resume = hub::Position{room.resume().epoch(), room.resume().sequence()};
    }
    const auto outcome = context_.hub.join(room.room(), subscriber_, options, may_create);
    if (outcome.status == hub::JoinStatus::resume_ahead) {
      subscriber_->close({hub::CloseCode::invalid_argument,
                          "resume position " + std::to_string(options.resume->sequence) +
                              " is ahead of the last sequence of " + room.room()},
                         false);
      return;
    }
    if (outcome.status == hub::JoinStatus::too_many_rooms ||
        outcome.status == hub::JoinStatus::creation_refused) {
      const bool relay_full = outcome.status == hub::JoinStatus::too_many_rooms;
      subscriber_->close(
          {hub::CloseCode::resource_exhausted,
           (relay_full ? too_many_rooms(context_.config) : too_many_creations(context_.config)) +
               " (" + room.room() + ")"},
          false);
      return;
    }
    rooms_.push_back(room.room());
  }
  // Last: from here on the token check may write to the stream.
  if (token_expires_s > 0) {
    lease_ = context_.token_leases.add(subscriber_, token_expires_s, unix_now_ms());
  }
}

void FollowReactor::leave_all_rooms() {
  for (const auto& room : rooms_) {
    context_.hub.leave(room, subscriber_);
  }
  rooms_.clear();
}

void FollowReactor::OnWriteDone(bool ok) {
  // An idle stream keeps neither the bytes of its last write (about 300 B)
  // nor, through them, the frames it wrote.
  write_buffer_.Clear();
  subscriber_->on_write_done(ok);
}

void FollowReactor::OnCancel() {
  subscriber_->close({hub::CloseCode::cancelled, "cancelled by the client"}, false);
}

void FollowReactor::OnDone() {
  stuck_write_.disarm();
  leave_all_rooms();
  context_.token_leases.remove(lease_);
  context_.streams.remove(subscriber_);
  spdlog::info("follow stream {} of {} closed", subscriber_->id(), subscriber_->user());
  delete this;
}

void FollowReactor::write_stuck_after_close(bool draining) {
  stuck_write_.arm(context_.config, draining,
                   fmt::format("follow stream {} of {}", subscriber_->id(), subscriber_->user()),
                   context_.stuck_write_cancels);
}

void FollowReactor::start_write(std::span<const hub::FramePtr> frames, bool more_follows) {
  write_buffer_ = wire_buffer(frames);
  StartWrite(&write_buffer_, write_options(more_follows));
}

void FollowReactor::finish(const hub::CloseReason& reason) {
  if (reason.code != hub::CloseCode::ok && reason.code != hub::CloseCode::cancelled) {
    spdlog::info("follow stream {} of {} ends: {}", subscriber_->id(), subscriber_->user(),
                 reason.message);
  }
  Finish(to_status(reason));
}

}  // namespace relay::service
