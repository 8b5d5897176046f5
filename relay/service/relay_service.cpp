#include "relay/service/relay_service.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/metadata.hpp"
#include "common/validation.hpp"
#include "relay/service/chat_reactor.hpp"
#include "relay/service/follow_reactor.hpp"
#include "relay/service/publish_batch_reactor.hpp"
#include "relay/service/status.hpp"

namespace relay::service {
namespace {

// A call refused before it starts: finish at once, die in OnDone.
template <typename Reactor>
class Refused final : public Reactor {
 public:
  explicit Refused(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

const grpc::Status kShuttingDown{grpc::StatusCode::UNAVAILABLE, "relay shutting down"};

grpc::ServerUnaryReactor* finish_unary(grpc::CallbackServerContext* context, grpc::Status status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

grpc::Status not_found(const std::string& room) {
  return {grpc::StatusCode::NOT_FOUND, "no room named " + room};
}

}  // namespace

hub::HubLimits hub_limits(const common::RelayConfig& config) {
  hub::HubLimits limits;
  limits.room.history = {config.history_max_messages, config.history_max_bytes};
  limits.room.duplicates = {config.duplicate_window_ms * 1000, config.duplicate_window_max_ids};
  // A join's replay is one history and its Joined frame.
  limits.queue = {config.subscriber_queue_max_frames, config.subscriber_queue_max_bytes,
                  config.history_max_messages + 1, config.history_max_bytes + 4096};
  limits.room_idle_ttl_us = config.room_idle_ttl_ms * 1000;
  limits.max_rooms = config.max_rooms;
  limits.write_linger = std::chrono::microseconds(config.write_linger_us);
  limits.max_write_linger = std::chrono::microseconds(config.max_write_linger_us);
  return limits;
}

RelayService::RelayService(const common::RelayConfig& config)
    : hub_(hub_limits(config), encoder_), backplane_(hub_), context_(config, hub_, backplane_) {}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* RelayService::Chat(
    grpc::CallbackServerContext* context) {
  using Reactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;
  if (context_.draining.load()) {
    return new Refused<Reactor>(kShuttingDown);
  }
  auto identity = identify(*context);
  if (!identity.user) {
    spdlog::info("chat from {} refused: {}", context->peer(), identity.error.error_message());
    return new Refused<Reactor>(identity.error);
  }
  // A hello in the initial metadata tells the client its stream is up before
  // any frame is due (ChatReactor sends it at once), and the limits it will
  // be held to, so a well-behaved client paces itself and is never refused.
  const auto& config = context_.config;
  context->AddInitialMetadata(common::kHelloKey, common::kHelloVersion);
  context->AddInitialMetadata(common::kMaxBodyBytesKey, std::to_string(config.max_body_bytes));
  context->AddInitialMetadata(common::kPublishRateKey,
                              fmt::format("{:g}", config.publish_rate_per_second));
  context->AddInitialMetadata(common::kPublishBurstKey, std::to_string(config.publish_burst));
  return new ChatReactor(context_, context, std::move(*identity.user));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* RelayService::Follow(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  using Reactor = grpc::ServerWriteReactor<grpc::ByteBuffer>;
  if (context_.draining.load()) {
    return new Refused<Reactor>(kShuttingDown);
  }
  grpc::ByteBuffer copy(*request);
  v1::FollowRequest parsed;
  if (!grpc::SerializationTraits<v1::FollowRequest>::Deserialize(&copy, &parsed).ok()) {
    return new Refused<Reactor>({grpc::StatusCode::INVALID_ARGUMENT, "malformed FollowRequest"});
  }
  if (auto error = FollowReactor::validate(parsed)) {
    return new Refused<Reactor>({grpc::StatusCode::INVALID_ARGUMENT, *error});
  }
  return new FollowReactor(context_, context, parsed);
}

grpc::ServerReadReactor<v1::PublishRequest>* RelayService::PublishBatch(
    grpc::CallbackServerContext* context, v1::PublishBatchSummary* response) {
  using Reactor = grpc::ServerReadReactor<v1::PublishRequest>;
  if (context_.draining.load()) {
    return new Refused<Reactor>(kShuttingDown);
  }
  auto identity = identify(*context);
  if (!identity.user) {
    return new Refused<Reactor>(identity.error);
  }
  return new PublishBatchReactor(context_, std::move(*identity.user), response);
}

grpc::ServerUnaryReactor* RelayService::ListRooms(grpc::CallbackServerContext* context,
                                                  const v1::ListRoomsRequest* /*request*/,
                                                  v1::ListRoomsResponse* response) {
  for (const auto& info : hub_.list_rooms()) {
    auto& room = *response->add_rooms();
    room.set_room(info.room);
    room.set_epoch(info.epoch);
    room.set_sequence(info.sequence);
    room.set_subscribers(static_cast<std::uint32_t>(info.subscribers));
    room.set_history_messages(info.history_messages);
  }
  return finish_unary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RelayService::History(grpc::CallbackServerContext* context,
                                                const v1::HistoryRequest* request,
                                                v1::HistoryResponse* response) {
  if (auto error = common::validate_room_name(request->room())) {
    return finish_unary(context, {grpc::StatusCode::INVALID_ARGUMENT, *error});
  }
  const std::size_t most = context_.config.history_query_max_messages;
  const std::size_t limit =
      request->limit() == 0 ? most : std::min<std::size_t>(request->limit(), most);
  const auto page = hub_.history(request->room(), request->after_sequence(), limit);
  if (!page) {
    return finish_unary(context, not_found(request->room()));
  }
  response->set_epoch(page->epoch);
  response->set_sequence(page->sequence);
  response->set_missed(page->missed);
  for (const auto& stored : page->messages) {
    if (!decode_message(stored->frame, *response->add_messages())) {
      spdlog::error("room {}: the stored message {} does not decode", request->room(),
                    stored->sequence);
      return finish_unary(context, {grpc::StatusCode::INTERNAL,
                                    "the relay could not read its own history; this is a bug"});
    }
  }
  return finish_unary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* RelayService::Who(grpc::CallbackServerContext* context,
                                            const v1::WhoRequest* request,
                                            v1::WhoResponse* response) {
  if (auto error = common::validate_room_name(request->room())) {
    return finish_unary(context, {grpc::StatusCode::INVALID_ARGUMENT, *error});
  }
  const auto members = hub_.members(request->room());
  if (!members) {
    return finish_unary(context, not_found(request->room()));
  }
  for (const auto& member : members->members) {
    auto& out = *response->add_members();
    out.set_user(member.user);
    out.set_streams(static_cast<std::uint32_t>(member.streams));
  }
  response->set_followers(static_cast<std::uint32_t>(members->followers));
  return finish_unary(context, grpc::Status::OK);
}

void RelayService::begin_shutdown() {
  context_.draining.store(true);
  context_.streams.close_all({hub::CloseCode::unavailable, kShuttingDown.error_message()}, true);
}

}  // namespace relay::service
