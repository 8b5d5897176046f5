#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "cli/session/token_source.hpp"
#include "common/client_tls.hpp"

namespace relay::cli {

struct ChannelOptions {
  // Client keepalive: ping after this long without traffic, even with no call
  // open; the relay accepts pings every 10 s or slower, so 20 s is never
  // answered with too_many_pings.
  std::chrono::milliseconds keepalive_time{20000};
  std::chrono::milliseconds keepalive_timeout{10000};
  // Plaintext unless it says TLS; its files were checked when relay-chat started.
  common::ClientTls tls;
  // The bearer tokens for a relay with --auth-key, fetched again for every
  // call and every refresh, so that a renewed token is used from then on.
  TokenSource token;
  // Client-side health checking keeps calls away from a relay that says
  // NOT_SERVING; off for a caller that wants to hear that answer itself.
  bool health_checked = true;
};

// Who the caller is, on every call: x-relay-user, and a fresh bearer token
// from `options.token` when it names a source. Returns why no token could be
// had from it (the call then goes without, and the relay refuses it).
std::optional<std::string> add_caller_metadata(grpc::ClientContext& context,
                                               const std::string& user,
                                               const ChannelOptions& options);
// The same with a token already fetched (none when empty).
void add_caller_metadata(grpc::ClientContext& context, const std::string& user,
                         const std::string& token);

// A channel to one or more relays. Several addresses in the target
// ("ipv4:127.0.0.1:50051,127.0.0.1:50052", or a dns: name with several
// records) are balanced with round_robin, and a relay whose health service
// says NOT_SERVING (it is draining) gets no new calls.
std::shared_ptr<grpc::Channel> make_channel(const std::string& target,
                                            const ChannelOptions& options = {});

// What waiting for a relay found.
enum class RelayReach { connected, failing, no_answer, stopped };

// A relay that is starting refuses connections until it listens, so a failing
// connection counts only once it has failed for this long: `relay-server &
// relay-chat rooms` works, and a relay that is not there is reported about a
// second later rather than at --timeout.
inline constexpr std::chrono::milliseconds kStartingRelayGrace{1000};

// Waits until `channel` is connected, has failed for longer than
// kStartingRelayGrace (a call with wait_for_ready(false) then fails at once
// with gRPC's reason), `deadline` has passed, or `stopping` returns true. It
// waits in short steps, so that stopping is noticed within 50 ms.
RelayReach wait_for_relay(grpc::Channel& channel, std::chrono::steady_clock::time_point deadline,
                          const std::function<bool()>& stopping);

// make_channel without health checking: for the questions to a relay's
// health service, which a health-checked channel keeps away from a relay
// that says NOT_SERVING.
std::shared_ptr<grpc::Channel> make_unchecked_channel(const std::string& target,
                                                      ChannelOptions options);

// Whether the relay behind `unchecked` (see make_unchecked_channel) answers
// its health service with NOT_SERVING: true or false, or nothing when no
// answer came by the deadline of `context`, which also lets the caller
// cancel. Needs no caller metadata: gRPC's own health checking sends none.
std::optional<bool> says_not_serving(grpc::Channel& unchecked, grpc::ClientContext& context);

// Why a stream failed with `status`, UNAVAILABLE, before the relay took it:
// not_serving(target) when `channel` is not connected (gRPC refused the
// call, not the relay, whose own words are kept) and the relay's health
// service says NOT_SERVING, asked on `unchecked` for at most
// kRefusalQuestionTime; else cannot_reach(target, the status's message).
std::string describe_refused_stream(const grpc::Status& status, const std::string& target,
                                    const common::ClientTls& tls, grpc::Channel& channel,
                                    grpc::Channel& unchecked);
// Short, so that a stop still ends a session within about a second.
inline constexpr std::chrono::milliseconds kRefusalQuestionTime{500};

// The service config that make_channel sets, for tests and documentation.
std::string service_config_json(bool health_checked = true);

}  // namespace relay::cli
