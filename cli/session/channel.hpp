#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

namespace relay::cli {

struct ChannelOptions {
  // Client keepalive: ping after this long without traffic, even with no call
  // open; the relay accepts pings every 10 s or slower, so 20 s is never
  // answered with too_many_pings.
  std::chrono::milliseconds keepalive_time{20000};
  std::chrono::milliseconds keepalive_timeout{10000};
};

// A channel to one or more relays. Several addresses in the target
// ("ipv4:127.0.0.1:50051,127.0.0.1:50052", or a dns: name with several
// records) are balanced with round_robin, and a relay whose health service
// says NOT_SERVING (it is draining) gets no new calls.
std::shared_ptr<grpc::Channel> make_channel(const std::string& target,
                                            const ChannelOptions& options = {});

// The service config that make_channel sets, for tests and documentation.
std::string service_config_json();

}  // namespace relay::cli
