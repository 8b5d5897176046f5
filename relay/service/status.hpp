#pragma once

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "common/config.hpp"
#include "common/tokens.hpp"
#include "relay/hub/room.hpp"
#include "relay/hub/subscriber.hpp"

namespace relay::service {

grpc::Status to_status(const hub::CloseReason& reason);

// The caller's name and rooms, or the status to end the call with
// (UNAUTHENTICATED, whether it is missing or malformed). With `tokens`, the
// name is the `sub` of the bearer token in `authorization` and the rooms are
// its `rooms` claim, and x-relay-user is ignored; without, the name is
// x-relay-user, taken on trust (loopback, tests), and every room is open.
// A caller's rooms, shared by their streams: a relay without tokens shares one
// for everybody, so that an idle stream does not carry its own copy.
using Permissions = std::shared_ptr<const common::RoomPermissions>;

struct Identity {
  std::optional<std::string> user;
  grpc::Status error;
  Permissions rooms = nullptr;       // null when refused
  std::int64_t token_expires_s = 0;  // the token's exp; 0 without tokens
};
Identity identify(const grpc::CallbackServerContext& context, const common::TokenVerifier* tokens);

// Refusals that Chat, Follow and PublishBatch word alike.
// PERMISSION_DENIED's message: what the caller may not do, and where.
std::string not_permitted(common::RoomRight right, const std::string& room);
std::string rate_limited(const common::RelayConfig& config);
std::string too_many_creations(const common::RelayConfig& config);
std::string too_many_rooms(const common::RelayConfig& config);
// Why the backplane refused a publish, or nothing when it was accepted:
// RESOURCE_EXHAUSTED for a limit, UNAVAILABLE when it could not be ordered now.
std::optional<grpc::Status> publish_refusal(const hub::PublishResult& result,
                                            const common::RelayConfig& config);

}  // namespace relay::service
