#pragma once

#include <chrono>
#include <string>

#include <grpcpp/support/status.h>

#include "common/client_tls.hpp"

namespace relay::cli {

// "INVALID_ARGUMENT" for 3, ..., "code 42" for a code gRPC does not define.
std::string status_code_name(int code);
// "UNAVAILABLE: relay shutting down", or just the name without a message.
std::string describe_grpc_status(const grpc::Status& status);
// "cannot reach a relay at TARGET: REASON", the words of every mode for a
// relay that does not answer, with a hint when TLS settings (or their
// absence) are the likely cause.
std::string cannot_reach(const std::string& target, const std::string& reason,
                         const common::ClientTls& tls);
// "no answer within 2.5 s": the reason when a relay accepts connections but
// does not answer.
std::string no_answer_within(std::chrono::milliseconds timeout);
// Why a relay says NOT_SERVING, in the words every mode gives after it.
inline constexpr const char* kNotServingReason =
    "it is shutting down, or cannot reach its message broker";
// "the relay at TARGET is NOT_SERVING: " and kNotServingReason.
std::string not_serving(const std::string& target);

}  // namespace relay::cli
