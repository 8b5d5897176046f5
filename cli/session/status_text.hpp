#pragma once

#include <string>

#include <grpcpp/support/status.h>

namespace relay::cli {

// "INVALID_ARGUMENT" for 3, ..., "code 42" for a code gRPC does not define.
std::string status_code_name(int code);
// "UNAVAILABLE: relay shutting down", or just the name without a message.
std::string describe_grpc_status(const grpc::Status& status);

}  // namespace relay::cli
