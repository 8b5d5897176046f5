#include "cli/bench/nats_publisher.hpp"

#include <string>

namespace relay::cli::bench {
namespace {

std::chrono::nanoseconds interval_of(double rate) {
  return rate > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate))
                  : std::chrono::nanoseconds(0);
}

}  // namespace

NatsPublisher::NatsPublisher(std::shared_ptr<NatsConnection> connection, PublisherOptions options)
    : connection_(std::move(connection)),
      options_(std::move(options)),
      pacer_(interval_of(options_.rate), [this] { advance(); }) {}

NatsPublisher::~NatsPublisher() { stop(); }

void NatsPublisher::start() {
  {
    std::lock_guard lock(mutex_);
    started_ = true;
  }
  if (options_.rate > 0) {
    pacer_.start();
  } else {
    advance();
  }
}

void NatsPublisher::stop() {
  pacer_.stop();
  std::lock_guard lock(mutex_);
  stopping_ = true;
}

void NatsPublisher::window_moved() {
  if (options_.rate == 0) {
    advance();
  }
}

void NatsPublisher::advance() {
  std::lock_guard lock(mutex_);
  if (!started_ || stopping_) {
    return;
  }
  if (options_.rate > 0) {
    publish_locked();
    return;
  }
  while (options_.progress->window_open(options_.window)) {
    publish_locked();
  }
}

void NatsPublisher::publish_locked() {
  const std::string body = make_body(
      options_.message_bytes, {std::chrono::steady_clock::now(), options_.index, ++sequence_});
  options_.progress->published.fetch_add(1);
  const natsStatus status = natsConnection_Publish(connection_->get(), options_.room.c_str(),
                                                   body.data(), static_cast<int>(body.size()));
  (status == NATS_OK ? published_ : refused_).fetch_add(1, std::memory_order_relaxed);
}

}  // namespace relay::cli::bench
