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
//
// The guard and the alarm are made when armed, which few streams ever are:
// an idle stream keeps only the call's pointer (the guard and the alarm
// took 72 and 240 bytes). arm and disarm never run at once: the hub arms
// from FrameSink::write_stuck_after_close, before it finishes the stream,
// and OnDone comes only after that finish.
class StuckWriteCanceller {
 public:
  explicit StuckWriteCanceller(grpc::CallbackServerContext* call) : call_(call) {}

  // Once at most, before disarm: cancels the call if it has not finished
  // --shutdown-grace-ms after a close that drains (the relay ends the
  // stream), --slow-consumer-grace-ms after one that does not. `stream`
  // names it in the log; `cancels` counts the calls cancelled, and must
  // outlive the call.
  void arm(const common::RelayConfig& config, bool draining, std::string stream,
           std::atomic<std::uint64_t>& cancels) {
    const std::chrono::milliseconds grace(draining ? config.shutdown_grace_ms
                                                   : config.slow_consumer_grace_ms);
    armed_ = std::make_unique<Armed>(std::make_shared<Guard>(call_, cancels));
    armed_->alarm.Set(std::chrono::system_clock::now() + grace,
                      [guard = armed_->guard, grace, stream = std::move(stream)](bool fired) {
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
    if (armed_ == nullptr) {
      return;
    }
    {
      std::lock_guard lock(armed_->guard->mutex);
      armed_->guard->call = nullptr;
    }
    armed_->alarm.Cancel();
  }

 private:
  struct Guard {
    Guard(grpc::CallbackServerContext* c, std::atomic<std::uint64_t>& n) : call(c), cancels(n) {}
    std::mutex mutex;
    grpc::CallbackServerContext* call;  // guarded by mutex
    std::atomic<std::uint64_t>& cancels;
  };
  // The guard is shared with the alarm's callback, which the alarm keeps
  // until it is destroyed: the guard must not own the alarm.
  struct Armed {
    explicit Armed(std::shared_ptr<Guard> g) : guard(std::move(g)) {}
    std::shared_ptr<Guard> guard;
    grpc::Alarm alarm;
  };
  grpc::CallbackServerContext* const call_;
  std::unique_ptr<Armed> armed_;
};

}  // namespace relay::service
