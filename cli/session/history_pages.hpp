#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "relay/v1/relay.pb.h"

namespace relay::cli {

// One History call: a request out, the relay's answer back.
using HistoryCall = std::function<grpc::Status(const v1::HistoryRequest&, v1::HistoryResponse&)>;

// The newest `count` messages of `room`, oldest first, as they stood at the
// first call. The relay caps every History call (100 messages by default),
// so this asks for page after page until it has them. `result.missed` counts
// those of the last `count` that the history no longer holds.
grpc::Status fetch_history_tail(const HistoryCall& call, const std::string& room,
                                std::uint32_t count, v1::HistoryResponse& result);

}  // namespace relay::cli
