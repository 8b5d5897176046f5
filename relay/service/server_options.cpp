#include "relay/service/server_options.hpp"

#include <grpc/grpc.h>

namespace relay::service {
namespace {

// Room name, client message id and protobuf framing fit well within this.
constexpr int kFrameOverheadBytes = 1024;

int as_int(std::int64_t value) { return static_cast<int>(value); }

}  // namespace

int max_receive_message_bytes(const common::RelayConfig& config) {
  return static_cast<int>(config.max_body_bytes) + kFrameOverheadBytes;
}

void apply_server_options(grpc::ServerBuilder& builder, const common::RelayConfig& config) {
  // gRPC shares the port by default (SO_REUSEPORT): a second relay on a port
  // in use would start, and the kernel would split the clients, and so the
  // rooms, between the two. Binding must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(max_receive_message_bytes(config));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, as_int(config.keepalive_time_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, as_int(config.keepalive_timeout_ms));
  // Chat streams sit idle between messages; pings must keep flowing then.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // gRPC's default refuses client pings more often than every 5 minutes and
  // answers GOAWAY too_many_pings; allow what well-configured clients send.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             as_int(config.min_client_ping_interval_ms));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             as_int(config.max_connection_idle_ms));
  if (config.max_connection_age_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               as_int(config.max_connection_age_ms));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               as_int(config.max_connection_age_grace_ms));
  }
}

}  // namespace relay::service
