#include "cli/bench/grpc_publisher.hpp"

#include <random>

#include <fmt/format.h>

#include "common/metadata.hpp"

namespace relay::cli::bench {
namespace {

std::string unique_id_prefix() {
  return fmt::format(
      "{:016x}-",
      std::random_device{}() * 0x9E3779B97F4A7C15ULL ^
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
}

std::chrono::nanoseconds interval_of(double rate) {
  return rate > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate))
                  : std::chrono::nanoseconds(0);
}

}  // namespace

PublisherStream::PublisherStream(ChatStub& stub, PublisherOptions options)
    : options_(std::move(options)),
      id_prefix_(unique_id_prefix()),
      pacer_(interval_of(options_.rate), [this] { publish_due(); }) {
  context_.AddMetadata(common::kUserKey, "bench-publisher");
  context_.AddMetadata(common::kAcceptBatchKey, common::kAcceptBatchYes);
  prepare_chat(stub, &context_, this);
  // Ours until stop(), so that stop() may half-close whatever the stream's
  // state, and OnDone cannot come before.
  AddHold();
  out_.mutable_join()->set_room(options_.room);
  writing_ = true;
  StartWrite(&out_);
  StartRead(&in_);
  StartCall();
}

PublisherStream::~PublisherStream() { stop(); }

void PublisherStream::start() {
  {
    std::lock_guard lock(mutex_);
    started_ = true;
  }
  if (options_.rate > 0) {
    pacer_.start();
  } else {
    // Not from a reaction, but under the hold taken in the constructor.
    advance();
  }
}

void PublisherStream::publish_due() {
  {
    std::lock_guard lock(mutex_);
    // The rate counts from the join: none falls due before there is a room.
    if (!joined_) {
      return;
    }
    ++due_;
  }
  advance();
}

void PublisherStream::stop() {
  bool half_close = false;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      changed_.wait(lock, [this] { return done_; });
      return;
    }
    stopping_ = true;
    if (!writing_ && !half_closed_) {
      half_closed_ = true;
      half_close = true;
    }
  }
  changed_.notify_all();
  pacer_.stop();
  if (half_close) {
    StartWritesDone();
  }
  if (parked_.exchange(false)) {
    RemoveHold();
  }
  RemoveHold();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return done_; });
}

void PublisherStream::window_moved() {
  if (parked_.load() && parked_.exchange(false)) {
    advance();
    RemoveHold();
  }
}

bool PublisherStream::window_open() const {
  return options_.progress->window_open(options_.window);
}

void PublisherStream::advance() {
  std::unique_lock lock(mutex_);
  if (writing_ || stopping_ || broken_ || !started_ || !joined_) {
    return;
  }
  if (options_.rate > 0) {
    if (due_ == 0) {
      return;
    }
    --due_;
  } else if (!window_open()) {
    // Parked first, then the window checked again: a subscriber counts its
    // delivery first, then looks for a parked publisher, so one of the two
    // sees the other (both sequentially consistent).
    AddHold();
    parked_.store(true);
    if (!window_open() || !parked_.exchange(false)) {
      return;
    }
    RemoveHold();
  }
  writing_ = true;
  auto& publish = *out_.mutable_publish();
  publish.set_room(options_.room);
  const std::uint64_t sequence = next_id_++;
  publish.set_client_message_id(id_prefix_ + std::to_string(sequence));
  publish.set_body(make_body(options_.message_bytes,
                             {std::chrono::steady_clock::now(), options_.index, sequence}));
  options_.progress->published.fetch_add(1);
  lock.unlock();
  StartWrite(&out_);
}

void PublisherStream::OnWriteDone(bool ok) {
  bool half_close = false;
  {
    std::lock_guard lock(mutex_);
    writing_ = false;
    broken_ = broken_ || !ok;
    if (stopping_ && !broken_ && !half_closed_) {
      half_closed_ = true;
      half_close = true;
    }
  }
  if (half_close) {
    StartWritesDone();
  } else {
    advance();
  }
}

void PublisherStream::OnWritesDoneDone(bool) {}

void PublisherStream::OnReadDone(bool ok) {
  if (!ok) {
    return;
  }
  if (!parse_frame(in_, [this](const v1::ServerFrame& frame) { handle(frame); })) {
    {
      std::lock_guard lock(mutex_);
      broken_ = true;
    }
    context_.TryCancel();
    return;
  }
  StartRead(&in_);
}

void PublisherStream::handle(const v1::ServerFrame& frame) {
  if (frame.has_ack()) {
    acknowledged_.fetch_add(1, std::memory_order_relaxed);
  } else if (frame.has_error()) {
    refused_.fetch_add(1, std::memory_order_relaxed);
  } else if (frame.has_batch()) {
    for (const auto& inner : frame.batch().frames()) {
      handle(inner);
    }
  } else if (frame.has_joined()) {
    {
      std::lock_guard lock(mutex_);
      joined_ = true;
    }
    changed_.notify_all();
    advance();
  }
}

void PublisherStream::OnDone(const grpc::Status&) {
  std::lock_guard lock(mutex_);
  done_ = true;
  changed_.notify_all();
}

}  // namespace relay::cli::bench
