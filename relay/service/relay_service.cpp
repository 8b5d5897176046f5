#include "relay/service/relay_service.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <spdlog/spdlog.h>

#include "common/hello.hpp"
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

// A request read as raw bytes, parsed here so that bytes which are not the
// message get INVALID_ARGUMENT naming it; nothing when it parsed.
template <typename Message>
std::optional<grpc::Status> parse(const grpc::ByteBuffer& bytes, Message& out) {
  grpc::ByteBuffer copy(bytes);  // shares the slices; Deserialize consumes its buffer
  if (grpc::SerializationTraits<Message>::Deserialize(&copy, &out).ok()) {
    return std::nullopt;
  }
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "malformed request: the bytes are not a " + out.GetTypeName());
}

grpc::Status serialize(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::SerializationTraits<google::protobuf::Message>::Serialize(message, out, &own_buffer);
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
  limits.history_total_max_bytes = config.history_total_max_bytes;
  limits.history_max_age_us = config.history_max_age_ms * 1000;
  limits.write_linger = std::chrono::microseconds(config.write_linger_us);
  limits.max_write_linger = std::chrono::microseconds(config.max_write_linger_us);
  limits.keep_numbered_rooms = config.backplane == "nats";
  return limits;
}

RelayService::RelayService(const common::RelayConfig& config,
                           const BackplaneFactory& make_backplane,
                           std::shared_ptr<const common::TokenVerifier> tokens)
    : hub_(hub_limits(config), encoder_),
      backplane_(make_backplane ? make_backplane(hub_)
                                : std::make_unique<backplane::LocalBackplane>(hub_)),
      context_(config, hub_, *backplane_, std::move(tokens)) {}

RelayService::Admitted RelayService::admit_stream(const grpc::CallbackServerContext& context,
                                                  const char* rpc) {
  if (context_.draining.load()) {
    return {"", {}, nullptr, kShuttingDown};
  }
  auto identity = identify_or_log(context, rpc);
  if (!identity.user) {
    return {"", {}, nullptr, identity.error};
  }
  auto admission = context_.users.admit(*identity.user, context.peer());
  if (!admission.slot) {
    context_.refused_calls.refused(admission.refusal.error_code(),
                                   fmt::format("{} of {} from {}: {}", rpc, *identity.user,
                                               context.peer(), admission.refusal.error_message()));
    return {"", {}, nullptr, admission.refusal};
  }
  return {std::move(*identity.user), std::move(identity.rooms), std::move(admission.slot),
          grpc::Status::OK, identity.token_expires_s};
}

template <typename Request>
std::optional<grpc::Status> RelayService::read_unary(const grpc::CallbackServerContext& context,
                                                     const grpc::ByteBuffer& bytes, Request& out,
                                                     const char* rpc, Identity& caller) {
  caller = identify_or_log(context, rpc);
  if (!caller.user) {
    return caller.error;
  }
  return parse(bytes, out);
}

grpc::Status RelayService::denied(const grpc::CallbackServerContext& context, const char* rpc,
                                  const std::string& user, const std::string& message) {
  context_.refused_calls.refused(
      grpc::StatusCode::PERMISSION_DENIED,
      fmt::format("{} of {} from {}: {}", rpc, user, context.peer(), message));
  return {grpc::StatusCode::PERMISSION_DENIED, message};
}

Identity RelayService::identify_or_log(const grpc::CallbackServerContext& context,
                                       const char* rpc) {
  auto identity = identify(context, context_.tokens.get());
  if (!identity.user) {
    context_.refused_calls.refused(
        identity.error.error_code(),
        fmt::format("{} from {}: {}", rpc, context.peer(), identity.error.error_message()));
  }
  return identity;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* RelayService::Chat(
    grpc::CallbackServerContext* context) {
  using Reactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;
  auto admitted = admit_stream(*context, "chat");
  if (!admitted.slot) {
    return new Refused<Reactor>(admitted.refusal);
  }
  // A hello in the initial metadata tells the client its stream is up before
  // any frame is due (ChatReactor sends it at once), and the limits it will
  // be held to, so a well-behaved client paces itself and is never refused.
  const auto& config = context_.config;
  context->AddInitialMetadata(
      common::kHelloKey, common::format_hello(config.max_body_bytes, config.publish_rate_per_second,
                                              config.publish_burst));
  return new ChatReactor(context_, context, std::move(admitted.user), std::move(admitted.rooms),
                         std::move(admitted.slot), admitted.token_expires_s);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* RelayService::Follow(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  using Reactor = grpc::ServerWriteReactor<grpc::ByteBuffer>;
  auto admitted = admit_stream(*context, "follow");
  if (!admitted.slot) {
    return new Refused<Reactor>(admitted.refusal);
  }
  v1::FollowRequest parsed;
  if (auto refusal = parse(*request, parsed)) {
    return new Refused<Reactor>(*refusal);
  }
  if (auto error = FollowReactor::validate(parsed)) {
    return new Refused<Reactor>({grpc::StatusCode::INVALID_ARGUMENT, *error});
  }
  // All or none: a follower that misses a room it asked for would not know.
  for (const auto& room : parsed.rooms()) {
    if (!admitted.rooms->allows(common::RoomRight::follow, room.room())) {
      return new Refused<Reactor>(denied(*context, "follow", admitted.user,
                                         not_permitted(common::RoomRight::follow, room.room())));
    }
  }
  return new FollowReactor(context_, context, std::move(admitted.user), std::move(admitted.slot),
                           admitted.token_expires_s, parsed);
}

grpc::ServerReadReactor<grpc::ByteBuffer>* RelayService::PublishBatch(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  using Reactor = grpc::ServerReadReactor<grpc::ByteBuffer>;
  auto admitted = admit_stream(*context, "batch");
  if (!admitted.slot) {
    if (admitted.refusal.error_code() == grpc::StatusCode::UNAVAILABLE) {
      context->AddTrailingMetadata(common::kAcceptedKey, "0");
      context->AddTrailingMetadata(common::kProcessedKey, "0");
    }
    return new Refused<Reactor>(admitted.refusal);
  }
  return new PublishBatchReactor(context_, context, std::move(admitted.user),
                                 std::move(admitted.rooms), std::move(admitted.slot),
                                 admitted.token_expires_s, response);
}

grpc::ServerUnaryReactor* RelayService::ListRooms(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) {
  v1::ListRoomsRequest parsed;
  Identity caller;
  if (auto refusal = read_unary(*context, *request, parsed, "list rooms", caller)) {
    return finish_unary(context, *refusal);
  }
  v1::ListRoomsResponse answer;
  for (const auto& info : hub_.list_rooms()) {
    if (!caller.rooms->sees(info.room)) {
      continue;
    }
    auto& room = *answer.add_rooms();
    room.set_room(info.room);
    room.set_epoch(info.epoch);
    room.set_sequence(info.sequence);
    room.set_subscribers(static_cast<std::uint32_t>(info.subscribers));
    room.set_history_messages(info.history_messages);
  }
  return finish_unary(context, serialize(answer, response));
}

grpc::ServerUnaryReactor* RelayService::History(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) {
  v1::HistoryRequest parsed;
  Identity caller;
  if (auto refusal = read_unary(*context, *request, parsed, "history", caller)) {
    return finish_unary(context, *refusal);
  }
  if (auto error = common::validate_room_name(parsed.room())) {
    return finish_unary(context, {grpc::StatusCode::INVALID_ARGUMENT, *error});
  }
  // Before the room is looked up: NOT_FOUND would tell who may not read a
  // room whether it exists.
  if (!caller.rooms->allows(common::RoomRight::history, parsed.room())) {
    return finish_unary(context, denied(*context, "history", *caller.user,
                                        not_permitted(common::RoomRight::history, parsed.room())));
  }
  const std::size_t most = context_.config.history_query_max_messages;
  const std::size_t limit =
      parsed.limit() == 0 ? most : std::min<std::size_t>(parsed.limit(), most);
  const auto page = hub_.history(parsed.room(), parsed.after_sequence(), limit);
  if (!page) {
    return finish_unary(context, not_found(parsed.room()));
  }
  v1::HistoryResponse answer;
  answer.set_epoch(page->epoch);
  answer.set_sequence(page->sequence);
  answer.set_missed(page->missed);
  for (const auto& stored : page->messages) {
    if (!decode_message(stored->frame, *answer.add_messages())) {
      spdlog::error("room {}: the stored message {} does not decode", parsed.room(),
                    stored->sequence);
      return finish_unary(context, {grpc::StatusCode::INTERNAL,
                                    "the relay could not read its own history; this is a bug"});
    }
  }
  return finish_unary(context, serialize(answer, response));
}

grpc::ServerUnaryReactor* RelayService::Who(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) {
  v1::WhoRequest parsed;
  Identity caller;
  if (auto refusal = read_unary(*context, *request, parsed, "who", caller)) {
    return finish_unary(context, *refusal);
  }
  if (auto error = common::validate_room_name(parsed.room())) {
    return finish_unary(context, {grpc::StatusCode::INVALID_ARGUMENT, *error});
  }
  // Who is in a room is for those who may be in it, or read it, in any way.
  if (!caller.rooms->sees(parsed.room())) {
    return finish_unary(context, denied(*context, "who", *caller.user,
                                        "your token gives you no right in " + parsed.room()));
  }
  const auto members = hub_.members(parsed.room());
  if (!members) {
    return finish_unary(context, not_found(parsed.room()));
  }
  v1::WhoResponse answer;
  for (const auto& member : members->members) {
    auto& out = *answer.add_members();
    out.set_user(member.user);
    out.set_streams(static_cast<std::uint32_t>(member.streams));
  }
  answer.set_followers(static_cast<std::uint32_t>(members->followers));
  return finish_unary(context, serialize(answer, response));
}

void RelayService::sweep() {
  hub_.sweep();
  context_.users.sweep(steady_now_us());
}

std::size_t RelayService::shed_streams() {
  const std::size_t shed = context_.streams.close_open(
      {hub::CloseCode::unavailable,
       "this relay cannot reach its message broker; connect again, to another relay if there "
       "is one"},
      true);
  shed_streams_.fetch_add(shed);
  return shed;
}

void RelayService::begin_shutdown() {
  context_.draining.store(true);
  context_.streams.close_all({hub::CloseCode::unavailable, kShuttingDown.error_message()}, true);
  context_.batches.drain_all();
}

metrics::RelayReadings RelayService::readings() const {
  metrics::RelayReadings readings;
  readings.hub = hub_.stats();
  readings.streams = hub_.subscriber_stats();
  readings.open_batches = context_.batches.size();
  for (const auto& room : hub_.list_rooms()) {
    readings.room_subscribers += room.subscribers;
  }
  readings.refusals = context_.refusal_counts.read();
  readings.token_refreshes = context_.token_leases.refreshes();
  readings.token_expired_streams = context_.token_leases.expired_streams();
  readings.backplane_serving = backplane_->serving();
  readings.shed_streams = shed_streams_.load();
  readings.stuck_write_cancels = context_.stuck_write_cancels.load();
  readings.backplane = backplane_->stats();
  return readings;
}

}  // namespace relay::service
