#include "cli/bench/publisher.hpp"

#include <random>

#include <fmt/format.h>

#include "cli/bench/load.hpp"
#include "common/metadata.hpp"

namespace relay::cli::bench {

Publisher::Publisher(v1::Relay::Stub& stub, PublisherOptions options)
    : options_(std::move(options)) {
  context_.AddMetadata(common::kUserKey, "bench-publisher");
  stream_ = stub.Chat(&context_);
}

Publisher::~Publisher() { stop(); }

void Publisher::start() {
  reader_ = std::thread([this] { read_loop(); });
  writer_ = std::thread([this] { write_loop(); });
}

void Publisher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }
  // A writer waiting for the window wakes on a delivery; give it one.
  options_.progress->delivered.fetch_add(1, std::memory_order_release);
  options_.progress->delivered.notify_all();
  if (writer_.joinable()) {
    writer_.join();
  }
  if (reader_.joinable()) {
    reader_.join();
  }
}

void Publisher::write_loop() {
  v1::ClientFrame frame;
  frame.mutable_join()->set_room(options_.room);
  if (!stream_->Write(frame)) {
    return;
  }
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return joined_ || stopping_ || stream_over_; });
  }
  // Unique per run: the relay's duplicate window would take a second run's
  // "1", "2", ... for resends of the first run's and not deliver them.
  const std::string id_prefix = fmt::format(
      "{:016x}-",
      std::random_device{}() * 0x9E3779B97F4A7C15ULL ^
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const auto interval =
      options_.rate > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / options_.rate))
                        : std::chrono::nanoseconds(0);
  auto next = std::chrono::steady_clock::now();
  for (std::uint64_t id = 1;; ++id) {
    {
      std::unique_lock lock(mutex_);
      if (options_.rate > 0) {
        changed_.wait_until(lock, next, [this] { return stopping_ || stream_over_; });
      }
      if (stopping_ || stream_over_) {
        break;
      }
    }
    if (options_.rate <= 0 && !wait_for_window()) {
      break;
    }
    next += interval;
    auto& publish = *frame.mutable_publish();
    publish.set_room(options_.room);
    publish.set_client_message_id(id_prefix + std::to_string(id));
    publish.set_body(make_body(options_.message_bytes, std::chrono::steady_clock::now()));
    options_.progress->published.fetch_add(1, std::memory_order_relaxed);
    if (!stream_->Write(frame)) {
      break;
    }
  }
  stream_->WritesDone();
}

bool Publisher::wait_for_window() {
  auto& progress = *options_.progress;
  for (;;) {
    const std::uint64_t delivered = progress.delivered.load(std::memory_order_acquire);
    if (progress.published.load(std::memory_order_relaxed) < delivered + options_.window) {
      return true;
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || stream_over_) {
        return false;
      }
    }
    progress.delivered.wait(delivered, std::memory_order_acquire);
  }
}

void Publisher::read_loop() {
  v1::ServerFrame frame;
  while (stream_->Read(&frame)) {
    if (frame.has_ack() || frame.has_error()) {
      (frame.has_ack() ? acknowledged_ : refused_).fetch_add(1, std::memory_order_relaxed);
    } else if (frame.has_joined()) {
      std::lock_guard lock(mutex_);
      joined_ = true;
      changed_.notify_all();
    }
  }
  stream_->Finish();
  std::lock_guard lock(mutex_);
  stream_over_ = true;
  changed_.notify_all();
}

}  // namespace relay::cli::bench
