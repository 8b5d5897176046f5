#include "cli/bench/nats_subscriber.hpp"

#include <string_view>

namespace relay::cli::bench {
namespace {

// How long wait_done() waits for the server's answer after the UNSUB.
constexpr auto kQuietTimeout = std::chrono::seconds(10);

}  // namespace

NatsSubscriber::NatsSubscriber(std::shared_ptr<NatsConnection> connection,
                               const std::string& subject, const Phase& phase,
                               RoomProgress* progress, std::size_t publishers)
    : connection_(std::move(connection)), log_(phase, progress, publishers) {
  if (!connection_ || natsConnection_Subscribe(&subscription_, connection_->get(), subject.c_str(),
                                               &on_message, this) != NATS_OK) {
    subscription_ = nullptr;
    done_ = ended_early_ = true;
    return;
  }
  subscribed_ = connection_->sent();
  // Without it a handler could still be running when cancel() returns; the
  // subscription's end would then not be known. A subscription closed
  // already (its connection with it) refuses it.
  if (natsSubscription_SetOnCompleteCB(subscription_, &on_complete, this) != NATS_OK) {
    done_ = ended_early_ = true;
  }
}

NatsSubscriber::~NatsSubscriber() {
  std::lock_guard lock(mutex_);
  if (quiet_) {
    natsSubscription_Destroy(subscription_);
  }
}

void NatsSubscriber::on_message(natsConnection*, natsSubscription*, natsMsg* message, void* self) {
  auto& subscriber = *static_cast<NatsSubscriber*>(self);
  const std::string_view body(natsMsg_GetData(message),
                              static_cast<std::size_t>(natsMsg_GetDataLength(message)));
  const auto stamp = read_stamp(body);
  const bool ours = stamp && subscriber.log_.record(stamp->publisher, stamp->sequence, stamp->sent);
  natsMsg_Destroy(message);
  if (!ours) {
    {
      std::lock_guard lock(subscriber.mutex_);
      if (subscriber.malformed_ || subscriber.stopping_) {
        return;
      }
      subscriber.malformed_ = true;
    }
    // From the handler itself, which libnats allows.
    subscriber.unsubscribe();
  }
}

void NatsSubscriber::on_complete(void* self) { static_cast<NatsSubscriber*>(self)->finished(); }

void NatsSubscriber::finished() {
  std::lock_guard lock(mutex_);
  ended_early_ = !stopping_ || malformed_;
  done_ = true;
  changed_.notify_all();
}

bool NatsSubscriber::wait_joined(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mutex_);
    if (done_) {
      return false;
    }
  }
  return connection_->confirm(subscribed_, timeout);
}

void NatsSubscriber::cancel() {
  {
    std::lock_guard lock(mutex_);
    const bool ended = stopping_ || malformed_ || done_;
    stopping_ = true;
    if (ended) {
      return;
    }
  }
  unsubscribe();
}

void NatsSubscriber::unsubscribe() {
  if (natsSubscription_Unsubscribe(subscription_) != NATS_OK) {
    return;  // the connection closed it first
  }
  const std::uint64_t number = connection_->sent();
  std::lock_guard lock(mutex_);
  unsubscribed_ = number;
}

void NatsSubscriber::wait_done() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return done_; });
  if (subscription_ == nullptr || quiet_) {
    return;
  }
  const std::uint64_t unsubscribed = unsubscribed_;
  lock.unlock();
  // Unsubscribed by this side: a round trip after the UNSUB. Closed with its
  // connection (the server cut it, or the handler's UNSUB failed): the
  // connection's reader closed it and reads no more.
  const bool quiet = unsubscribed != 0 ? connection_->confirm(unsubscribed, kQuietTimeout)
                                       : natsConnection_IsClosed(connection_->get());
  lock.lock();
  quiet_ = quiet;
}

bool NatsSubscriber::ended_early() const {
  std::lock_guard lock(mutex_);
  return ended_early_;
}

}  // namespace relay::cli::bench
