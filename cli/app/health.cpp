#include "cli/app/health.hpp"

#include <iostream>

#include "cli/app/relay_calls.hpp"
#include "cli/session/channel.hpp"
#include "cli/session/status_text.hpp"
#include "cli/ui/sanitize.hpp"
#include "grpc/health/v1/health.grpc.pb.h"

namespace relay::cli::app {
namespace {

using grpc::health::v1::HealthCheckResponse;

std::string subject(const GlobalOptions& global, const std::string& service) {
  const std::string relay = "the relay at " + global.target;
  return ui::sanitize_for_terminal(service.empty() ? relay : "service " + service + " of " + relay);
}

}  // namespace

int check_health(const GlobalOptions& global, const std::string& service, StopSignal& signals) {
  // The channel's own health checking would keep the call away from a relay
  // that says NOT_SERVING, and this command is there to hear that answer.
  const auto channel = make_unchecked_channel(global.target, channel_options(global));
  RelayCalls calls(channel, global);
  const auto stop = signals.stop_with([&calls] { calls.cancel(); });
  const auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  const grpc::Status status = calls.unary(
      [&](grpc::ClientContext& context) { return stub->Check(&context, request, &response); });
  if (calls.cancelled()) {
    return 1;  // the caller reports the stop signal
  }
  if (status.ok() && response.status() == HealthCheckResponse::SERVING) {
    std::cout << subject(global, service) << " is SERVING\n";
    return 0;
  }
  if (status.ok()) {
    std::cerr << "relay-chat: " << subject(global, service) << " is "
              << HealthCheckResponse::ServingStatus_Name(response.status())
              << (response.status() == HealthCheckResponse::NOT_SERVING
                      ? std::string(": ") + kNotServingReason
                      : std::string())
              << "\n";
  } else if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    // gRPC's health service answers Check on a name it does not serve so.
    std::cerr << "relay-chat: " << subject(global, service)
              << " is SERVICE_UNKNOWN: the relay serves no service of that name\n";
  } else {
    std::cerr << calls.describe_failure(status) << "\n";
  }
  return 1;
}

}  // namespace relay::cli::app
