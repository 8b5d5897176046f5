#pragma once

#include <grpcpp/server_builder.h>

#include "common/config.hpp"

namespace relay::service {

// Keepalive, connection management and message size limits from config.
void apply_server_options(grpc::ServerBuilder& builder, const common::RelayConfig& config);

// The largest frame gRPC accepts: a body at the limit plus room for the
// other fields. Anything larger is refused by the transport with
// RESOURCE_EXHAUSTED before the relay sees it.
int max_receive_message_bytes(const common::RelayConfig& config);

}  // namespace relay::service
