#include "cli/app/relay_calls.hpp"

#include <thread>

#include "cli/session/channel.hpp"
#include "cli/session/status_text.hpp"
#include "cli/ui/sanitize.hpp"
#include "common/metadata.hpp"

namespace relay::cli::app {
namespace {

bool unanswered(const grpc::Status& status) {
  const auto code = status.error_code();
  return code == grpc::StatusCode::DEADLINE_EXCEEDED || code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::CANCELLED;
}

}  // namespace

RelayCalls::RelayCalls(std::shared_ptr<grpc::Channel> channel, const GlobalOptions& global,
                       bool wait_for_serving)
    : channel_(std::move(channel)),
      stub_(v1::Relay::NewStub(channel_)),
      unchecked_channel_(make_unchecked_channel(global.target, channel_options(global))),
      global_(global),
      wait_for_serving_(wait_for_serving) {}

grpc::Status RelayCalls::unary(const Call& call) {
  const auto deadline = std::chrono::steady_clock::now() + global_.timeout;
  if (auto failure = reach(deadline)) {
    return *failure;
  }
  grpc::ClientContext context;
  prepare(context);
  context.set_deadline(std::chrono::system_clock::now() +
                       (deadline - std::chrono::steady_clock::now()));
  return run(context, call);
}

grpc::Status RelayCalls::watched(const Call& call, const Call& probe,
                                 const std::function<void()>& on_stall) {
  if (auto failure = reach(std::chrono::steady_clock::now() + global_.timeout)) {
    return *failure;
  }
  // Any answer, NOT_FOUND for a room not created yet included, says the
  // relay is there.
  if (auto status = probe_once(probe); unanswered(status)) {
    return status;
  }
  grpc::ClientContext context;
  prepare(context);
  bool finished = false;  // guarded by mutex_
  std::thread watchdog([&] { watch(context, probe, finished, on_stall); });
  const auto status = run(context, call);
  {
    std::lock_guard lock(mutex_);
    finished = true;
    changed_.notify_all();
  }
  watchdog.join();
  return status;
}

grpc::Status RelayCalls::probe_once(const Call& probe) {
  grpc::ClientContext context;
  prepare(context);
  context.set_deadline(std::chrono::system_clock::now() + global_.timeout);
  return run(context, probe);
}

void RelayCalls::watch(grpc::ClientContext& watched, const Call& probe, const bool& finished,
                       const std::function<void()>& on_stall) {
  std::unique_lock lock(mutex_);
  while (!changed_.wait_for(lock, global_.timeout, [&] { return finished || cancelled_; })) {
    lock.unlock();
    const auto status = probe_once(probe);
    lock.lock();
    if (unanswered(status) && status.error_code() != grpc::StatusCode::CANCELLED) {
      stalled_ = true;
      if (!finished) {
        watched.TryCancel();
        lock.unlock();
        on_stall();
      }
      return;
    }
  }
}

void RelayCalls::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  for (auto* context : live_) {
    context->TryCancel();
  }
  changed_.notify_all();
}

bool RelayCalls::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

std::string RelayCalls::describe_failure(const grpc::Status& status) const {
  bool stalled = false;
  bool said_not_serving = false;
  {
    std::lock_guard lock(mutex_);
    stalled = stalled_;
    said_not_serving = not_serving_;
  }
  std::string text;
  if (said_not_serving) {
    text = not_serving(global_.target);
  } else if (stalled || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    text = cannot_reach(global_.target, no_answer_within(global_.timeout), global_.tls);
  } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
             channel_->GetState(false) != GRPC_CHANNEL_READY) {
    text = cannot_reach(global_.target, status.error_message(), global_.tls);
  } else {
    text = describe_grpc_status(status);
  }
  return "relay-chat: " + ui::sanitize_for_terminal(text);
}

std::optional<grpc::Status> RelayCalls::reach(Deadline deadline) {
  {
    std::lock_guard lock(mutex_);
    not_serving_ = false;
  }
  bool said_not_serving = false;
  for (;;) {
    switch (wait_for_relay(*channel_, deadline, [this] { return cancelled(); })) {
      case RelayReach::connected:
        return std::nullopt;
      case RelayReach::failing:
        // A relay that says NOT_SERVING is reaching its message broker, or
        // draining before it stops: waited for, as one that is starting to
        // listen is, since it may serve again (a restart) by the deadline.
        // wait_for_relay paces the questions, about one a second; one that
        // went unanswered changes nothing.
        said_not_serving = answers_not_serving(deadline).value_or(said_not_serving);
        if (!said_not_serving) {
          return std::nullopt;
        }
        if (!wait_for_serving_) {
          return not_serving_failure();
        }
        continue;
      case RelayReach::no_answer:
        if (said_not_serving) {
          return not_serving_failure();
        }
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, no_answer_within(global_.timeout));
      case RelayReach::stopped:
        return grpc::Status::CANCELLED;
    }
  }
}

std::optional<bool> RelayCalls::answers_not_serving(Deadline deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) {
    return std::nullopt;
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::min<std::chrono::steady_clock::duration>(left, kStartingRelayGrace));
  std::optional<bool> answer;
  run(context, [&](grpc::ClientContext& asking) {
    answer = says_not_serving(*unchecked_channel_, asking);
    return grpc::Status::OK;
  });
  return answer;
}

grpc::Status RelayCalls::not_serving_failure() {
  std::lock_guard lock(mutex_);
  not_serving_ = true;
  return {grpc::StatusCode::UNAVAILABLE, not_serving(global_.target)};
}

void RelayCalls::prepare(grpc::ClientContext& context) const {
  // wait_for_relay has already waited for a relay that is starting: a call on
  // a channel that still fails then fails at once, with gRPC's reason.
  context.set_wait_for_ready(false);
  add_caller_metadata(context, global_.user, channel_options(global_));
}

grpc::Status RelayCalls::run(grpc::ClientContext& context, const Call& call) {
  {
    std::lock_guard lock(mutex_);
    if (cancelled_) {
      return grpc::Status::CANCELLED;
    }
    live_.insert(&context);
  }
  const auto status = call(context);
  std::lock_guard lock(mutex_);
  live_.erase(&context);
  return status;
}

}  // namespace relay::cli::app
