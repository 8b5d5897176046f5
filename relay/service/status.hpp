#pragma once

#include <optional>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "common/config.hpp"
#include "relay/hub/room.hpp"
#include "relay/hub/subscriber.hpp"

namespace relay::service {

grpc::Status to_status(const hub::CloseReason& reason);

// The caller's name from the `x-relay-user` metadata, or the status to end
// the call with (UNAUTHENTICATED, whether it is missing or malformed).
struct Identity {
  std::optional<std::string> user;
  grpc::Status error;
};
Identity identify(const grpc::CallbackServerContext& context);

// Refusals that Chat, Follow and PublishBatch word alike.
std::string rate_limited(const common::RelayConfig& config);
std::string too_many_creations(const common::RelayConfig& config);
std::string too_many_rooms(const common::RelayConfig& config);
// Why the backplane refused a publish, or nothing when it was accepted.
std::optional<std::string> publish_refusal(const hub::PublishResult& result,
                                           const common::RelayConfig& config);

}  // namespace relay::service
