#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include "common/config.hpp"

namespace relay::service {

// Cancels a call whose last write is still stuck some time after its stream
// was closed: a client that stopped reading never completes that write, and
// the stream could only finish once it does. The alarm may fire while the
// call ends, so it reaches the call through a guard that the reactor clears
// in OnDone, not through the reactor itself.
class StuckWriteCanceller {
 public:
  // `cancels` counts the calls cancelled, and must outlive the call.
  StuckWriteCanceller(grpc::CallbackServerContext* call, std::atomic<std::uint64_t>& cancels)
      : guard_(std::make_shared<Guard>(call, cancels)) {}

  // Once at most, before disarm: cancels the call if it has not finished
  // --shutdown-grace-ms after a close that drains (the relay ends the
  // stream), --slow-consumer-grace-ms after one that does not. `stream`
  // names it in the log.
  void arm(const common::RelayConfig& config, bool draining, std::string stream) {
    const std::chrono::milliseconds grace(draining ? config.shutdown_grace_ms
                                                   : config.slow_consumer_grace_ms);
    grpc::Alarm* alarm = nullptr;
    {
      // The alarm is made only when needed: an idle stream saves its 240 B.
      std::lock_guard lock(guard_->mutex);
      alarm_ = std::make_unique<grpc::Alarm>();
      alarm = alarm_.get();
    }
    alarm->Set(std::chrono::system_clock::now() + grace,
               [guard = guard_, grace, stream = std::move(stream)](bool fired) {
                 std::lock_guard lock(guard->mutex);
                 if (fired && guard->call != nullptr) {
                   guard->call->TryCancel();
                   guard->cancels.fetch_add(1);
                   // Once per stream, and only for one that was closed already.
                   spdlog::warn(
                       "{}: cancelled, as its last write was still stuck {} ms after it "
                       "was closed (its client reads nothing)",
                       stream, grace.count());
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
    Guard(grpc::CallbackServerContext* c, std::atomic<std::uint64_t>& n) : call(c), cancels(n) {}
    std::mutex mutex;
    grpc::CallbackServerContext* call;
    std::atomic<std::uint64_t>& cancels;
  };
  std::shared_ptr<Guard> guard_;
  std::unique_ptr<grpc::Alarm> alarm_;  // guarded by guard_->mutex
};

}  // namespace relay::service
