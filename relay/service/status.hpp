#pragma once

#include <optional>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

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

}  // namespace relay::service
