#pragma once

#include <chrono>
#include <string>

#include "cli/app/options.hpp"
#include "cli/app/stop_signal.hpp"

namespace relay::cli::app {

// Docker's HEALTHCHECK gives a check 30 s by default and runs it every 30 s:
// a few seconds tell a relay that does not answer from a busy one.
inline constexpr std::chrono::milliseconds kHealthTimeout{3000};

// Asks the relay's grpc.health.v1.Health/Check about `service` ("" is the
// relay as a whole). Prints one line and returns the exit code: 0 when the
// answer is SERVING, 1 otherwise (NOT_SERVING, an unknown service, no relay
// reached within --timeout), with the reason on stderr.
int check_health(const GlobalOptions& global, const std::string& service, StopSignal& signals);

}  // namespace relay::cli::app
