#include "cli/bench/publisher.hpp"

#include "cli/bench/load.hpp"

namespace relay::cli::bench {

Publisher::Publisher(v1::Relay::Stub& stub, PublisherOptions options)
    : options_(std::move(options)) {
  context_.AddMetadata("x-relay-user", "bench-publisher");
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
  const auto interval =
      options_.rate > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / options_.rate))
                        : std::chrono::nanoseconds(0);
  auto next = std::chrono::steady_clock::now();
  for (std::uint64_t id = 1;; ++id) {
    {
      std::unique_lock lock(mutex_);
      if (options_.rate > 0) {
        changed_.wait_until(lock, next, [this] { return stopping_ || stream_over_; });
      } else {
        changed_.wait(lock,
                      [this] { return stopping_ || stream_over_ || in_flight_ < options_.window; });
      }
      if (stopping_ || stream_over_) {
        break;
      }
      ++in_flight_;
    }
    next += interval;
    auto& publish = *frame.mutable_publish();
    publish.set_room(options_.room);
    publish.set_client_message_id(std::to_string(id));
    publish.set_body(make_body(options_.message_bytes, std::chrono::steady_clock::now()));
    if (!stream_->Write(frame)) {
      break;
    }
  }
  stream_->WritesDone();
}

void Publisher::read_loop() {
  v1::ServerFrame frame;
  while (stream_->Read(&frame)) {
    if (frame.has_ack() || frame.has_error()) {
      (frame.has_ack() ? acknowledged_ : refused_).fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(mutex_);
      --in_flight_;
      changed_.notify_all();
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
