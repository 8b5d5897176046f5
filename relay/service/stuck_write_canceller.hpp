#pragma once

#include <chrono>
#include <memory>
#include <mutex>

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>

namespace relay::service {

// Cancels a call whose last write is still stuck some time after its stream
// was closed: a client that stopped reading never completes that write, and
// the stream could only finish once it does. The alarm may fire while the
// call ends, so it reaches the call through a guard that the reactor clears
// in OnDone, not through the reactor itself.
class StuckWriteCanceller {
 public:
  explicit StuckWriteCanceller(grpc::CallbackServerContext* call)
      : guard_(std::make_shared<Guard>(call)) {}

  // Once at most, before disarm.
  void arm(std::chrono::milliseconds grace) {
    grpc::Alarm* alarm = nullptr;
    {
      // The alarm is made only when needed: an idle stream saves its 240 B.
      std::lock_guard lock(guard_->mutex);
      alarm_ = std::make_unique<grpc::Alarm>();
      alarm = alarm_.get();
    }
    alarm->Set(std::chrono::system_clock::now() + grace, [guard = guard_](bool fired) {
      std::lock_guard lock(guard->mutex);
      if (fired && guard->call != nullptr) {
        guard->call->TryCancel();
      }
    });
  }

  // From OnDone, before the reactor is deleted.
  void disarm() {
    grpc::Alarm* alarm = nullptr;
    {
      std::lock_guard lock(guard_->mutex);
      guard_->call = nullptr;
      alarm = alarm_.get();
    }
    if (alarm != nullptr) {
      alarm->Cancel();
    }
  }

 private:
  struct Guard {
    explicit Guard(grpc::CallbackServerContext* c) : call(c) {}
    std::mutex mutex;
    grpc::CallbackServerContext* call;
  };
  std::shared_ptr<Guard> guard_;
  std::unique_ptr<grpc::Alarm> alarm_;  // guarded by guard_->mutex
};

}  // namespace relay::service
