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

  // Waiting for a NOT_SERVING relay to serve is `wait_for_serving`; without
  // it a call fails at once, saying so.
  RelayCalls(std::shared_ptr<grpc::Channel> channel, const GlobalOptions& global,
             bool wait_for_serving = true);

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
  // says_not_serving, asked within a second and by `deadline`, where
  // cancel() reaches it.
  std::optional<bool> answers_not_serving(Deadline deadline);
  // Marks the failure that reach() returns for a relay that says NOT_SERVING.
  grpc::Status not_serving_failure();

  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Relay::Stub> stub_;
  const std::shared_ptr<grpc::Channel> unchecked_channel_;
  const GlobalOptions global_;
  const bool wait_for_serving_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool cancelled_ = false;  // guarded by mutex_
  bool stalled_ = false;    // a probe went unanswered; guarded by mutex_
  // The last reach() ended on a relay that says NOT_SERVING; guarded by mutex_.
  bool not_serving_ = false;
  std::set<grpc::ClientContext*> live_;  // calls in flight; guarded by mutex_
};

}  // namespace relay::cli::app
