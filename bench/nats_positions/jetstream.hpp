#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace relay::bench::nats_positions {

// A measurement that cannot talk to the server has nothing to report: every
// failure ends the run with the call and the server's reason.
class NatsFailure : public std::runtime_error {
 public:
  NatsFailure(const std::string& what, natsStatus status,
              jsErrCode code = static_cast<jsErrCode>(0));
};

void check(natsStatus status, const std::string& what, jsErrCode code = static_cast<jsErrCode>(0));

struct ConnectionDeleter {
  void operator()(natsConnection* connection) const { natsConnection_Destroy(connection); }
};
struct ContextDeleter {
  void operator()(jsCtx* context) const { jsCtx_Destroy(context); }
};
struct MessageDeleter {
  void operator()(natsMsg* message) const { natsMsg_Destroy(message); }
};
struct SubscriptionDeleter {
  void operator()(natsSubscription* subscription) const {
    natsSubscription_Unsubscribe(subscription);
    natsSubscription_Destroy(subscription);
  }
};
struct StreamInfoDeleter {
  void operator()(jsStreamInfo* info) const { jsStreamInfo_Destroy(info); }
};
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionDeleter>;
using ContextPtr = std::unique_ptr<jsCtx, ContextDeleter>;
using MessagePtr = std::unique_ptr<natsMsg, MessageDeleter>;
using SubscriptionPtr = std::unique_ptr<natsSubscription, SubscriptionDeleter>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, StreamInfoDeleter>;

ConnectionPtr connect(const std::string& url);

// The stream sequence of a message that came from a consumer or a get.
std::uint64_t stream_sequence(natsMsg* message);

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace relay::bench::nats_positions
