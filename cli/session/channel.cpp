#include "cli/session/channel.hpp"

#include "cli/session/status_text.hpp"
#include "common/metadata.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "relay/v1/relay.grpc.pb.h"

#include <stdexcept>
#include <variant>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace relay::cli {

std::string service_config_json(bool health_checked) {
  if (!health_checked) {
    return R"({"loadBalancingConfig":[{"round_robin":{}}]})";
  }
  return R"({"loadBalancingConfig":[{"round_robin":{}}],)"
         R"("healthCheckConfig":{"serviceName":"relay.v1.Relay"}})";
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& target,
                                            const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(service_config_json(options.health_checked));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive_time.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(options.keepalive_timeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // The session's supervisor paces reconnection with its own backoff; gRPC's
  // reconnect backoff below it is kept short so it does not add to it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto credentials = common::channel_credentials(options.tls);
  if (const auto* problem = std::get_if<std::string>(&credentials)) {
    // Checked at start: a file that went away since must not mean plaintext.
    throw std::runtime_error(*problem);
  }
  return grpc::CreateCustomChannel(
      target, std::get<std::shared_ptr<grpc::ChannelCredentials>>(credentials), args);
}

RelayReach wait_for_relay(grpc::Channel& channel, std::chrono::steady_clock::time_point deadline,
                          const std::function<bool()>& stopping) {
  constexpr auto kStep = std::chrono::milliseconds(50);
  const auto failing_from = std::chrono::steady_clock::now() + kStartingRelayGrace;
  for (;;) {
    if (channel.WaitForConnected(std::chrono::system_clock::now() + kStep)) {
      return RelayReach::connected;
    }
    if (stopping()) {
      return RelayReach::stopped;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= failing_from && channel.GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE) {
      return RelayReach::failing;
    }
    if (now >= deadline) {
      return RelayReach::no_answer;
    }
  }
}

std::shared_ptr<grpc::Channel> make_unchecked_channel(const std::string& target,
                                                      ChannelOptions options) {
  options.health_checked = false;
  return make_channel(target, options);
}

std::optional<bool> says_not_serving(grpc::Channel& unchecked, grpc::ClientContext& context) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(v1::Relay::service_full_name());
  grpc::health::v1::HealthCheckResponse response;
  const auto status = grpc::health::v1::Health::NewStub(unchecked.shared_from_this())
                          ->Check(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return std::nullopt;
  }
  return status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
}

std::string describe_refused_stream(const grpc::Status& status, const std::string& target,
                                    const common::ClientTls& tls, grpc::Channel& channel,
                                    grpc::Channel& unchecked) {
  if (channel.GetState(false) != GRPC_CHANNEL_READY) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kRefusalQuestionTime);
    if (says_not_serving(unchecked, context).value_or(false)) {
      return not_serving(target);
    }
  }
  return cannot_reach(target, status.error_message(), tls);
}

std::optional<std::string> add_caller_metadata(grpc::ClientContext& context,
                                               const std::string& user,
                                               const ChannelOptions& options) {
  if (options.token.empty()) {
    add_caller_metadata(context, user, "");
    return std::nullopt;
  }
  std::string why;
  const auto token = fetch_token(options.token, why);
  if (!token) {
    add_caller_metadata(context, user, "");
    return why;
  }
  add_caller_metadata(context, user, *token);
  return std::nullopt;
}

void add_caller_metadata(grpc::ClientContext& context, const std::string& user,
                         const std::string& token) {
  context.AddMetadata(common::kUserKey, user);
  if (!token.empty()) {
    context.AddMetadata("authorization", "Bearer " + token);
  }
}

}  // namespace relay::cli
