#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "cli/app/options.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli::app {

// The one-shot calls of a command (rooms, who, history, send, and the chat's
// /rooms, /who, /history). Each waits for a relay that is starting (to listen,
// or to reach its message broker: NOT_SERVING), fails with "cannot reach a
// relay at ADDRESS: REASON" when none answers within --timeout, or with "the
// relay at ADDRESS is NOT_SERVING: ..." when one answers but does not serve by
// then, and ends at once when cancel() is called.
class RelayCalls {
 public:
  using Call = std::function<grpc::Status(grpc::ClientContext&)>;

  RelayCalls(std::shared_ptr<grpc::Channel> channel, const GlobalOptions& global);

  v1::Relay::Stub& stub() { return *stub_; }
  // Runs `call` once the relay is reachable, all within --timeout.
  grpc::Status unary(const Call& call);
  // Runs `call` with no deadline, since a stream that flows may take longer
  // than --timeout. `probe`, a unary call, goes first (a relay that refuses
  // or does not answer fails the command before any input is read), then
  // every --timeout: when one gets no answer within it, the stream is
  // cancelled and `on_stall` called, to wake what feeds the stream (a read
  // of stdin that may never return).
  grpc::Status watched(const Call& call, const Call& probe, const std::function<void()>& on_stall);

  // From any thread (the stop signal's): ends the calls in flight, and every
  // later one, at once.
  void cancel();
  bool cancelled() const;

  // "relay-chat: cannot reach a relay at ADDRESS: REASON" when the call never
  // got an answer, "relay-chat: the relay at ADDRESS is NOT_SERVING: ..." when
  // a relay answered only that, else "relay-chat: CODE: message"; sanitized
  // for a terminal.
  std::string describe_failure(const grpc::Status& status) const;

 private:
  using Deadline = std::chrono::steady_clock::time_point;
  // The failure to report when no relay is reachable by `deadline`.
  std::optional<grpc::Status> reach(Deadline deadline);
  void prepare(grpc::ClientContext& context) const;
  // Runs `call` on `context` where cancel() can reach it.
  grpc::Status run(grpc::ClientContext& context, const Call& call);
  // Sends `probe` every --timeout until `finished`; cancels `watched` when a
  // probe gets no answer.
  void watch(grpc::ClientContext& watched, const Call& probe, const bool& finished,
             const std::function<void()>& on_stall);
  // One probe within --timeout; its status.
  grpc::Status probe_once(const Call& probe);
  // Whether a relay answers its health service, by `deadline`, with
  // NOT_SERVING: the reason the channel, which keeps its calls away from such
  // a relay, fails. Asked on a channel of its own without health checking.
  bool answers_not_serving(Deadline deadline);

  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Relay::Stub> stub_;
  const GlobalOptions global_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool cancelled_ = false;    // guarded by mutex_
  bool stalled_ = false;      // a probe went unanswered; guarded by mutex_
  bool not_serving_ = false;  // the last answer while waiting for a relay; guarded by mutex_
  std::shared_ptr<grpc::Channel> health_channel_;  // made when first needed, by reach()
  std::set<grpc::ClientContext*> live_;            // calls in flight; guarded by mutex_
};

}  // namespace relay::cli::app
