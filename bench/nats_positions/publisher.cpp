#include "publisher.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace relay::bench::nats_positions {
namespace {

constexpr char kMessageId[] = "Nats-Msg-Id";
constexpr char kExpectedLastSubjectSequence[] = "Nats-Expected-Last-Subject-Sequence";
constexpr auto kAckTimeout = std::chrono::seconds(30);

double percentile_us(std::vector<std::int64_t> values, double fraction) {
  if (values.empty()) {
    return 0;
  }
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index),
                   values.end());
  return static_cast<double>(values[index]) / 1000.0;
}

}  // namespace

Publisher::Publisher(natsConnection* connection, RoomSet& rooms, std::size_t window,
                     std::size_t body_bytes)
    : rooms_(rooms), window_(window), body_(body_bytes, 'x') {
  jsOptions options;
  check(jsOptions_Init(&options), "jsOptions_Init");
  options.Wait = 10'000;
  // The window is enforced here, so that the library never stalls a publish
  // (it would fail it after StallWait instead of waiting).
  options.PublishAsync.MaxPending = static_cast<std::int64_t>(window * 2 + 16);
  options.PublishAsync.AckHandler = &Publisher::on_ack;
  options.PublishAsync.AckHandlerClosure = this;
  jsCtx* context = nullptr;
  check(natsConnection_JetStream(&context, connection, &options), "natsConnection_JetStream");
  context_.reset(context);
  room_in_flight_.assign(rooms_.subjects.size(), false);
}

MessagePtr Publisher::make_message(std::size_t room, const std::string& id) {
  natsMsg* raw = nullptr;
  check(natsMsg_Create(&raw, rooms_.subjects[room].c_str(), nullptr, body_.data(),
                       static_cast<int>(body_.size())),
        "natsMsg_Create");
  MessagePtr message(raw);
  check(natsMsgHeader_Set(raw, kMessageId, id.c_str()), "natsMsgHeader_Set");
  if (rooms_.layout == Layout::one_stream_counted) {
    check(natsMsgHeader_Set(raw, kExpectedLastSubjectSequence,
                            std::to_string(rooms_.last_sequence[room]).c_str()),
          "natsMsgHeader_Set");
    check(
        natsMsgHeader_Set(raw, kRoomCounterHeader, std::to_string(rooms_.count[room] + 1).c_str()),
        "natsMsgHeader_Set");
  }
  return message;
}

void Publisher::publish_first(std::size_t room) {
  MessagePtr message = make_message(room, "first-" + std::to_string(room));
  jsPubAck* ack = nullptr;
  jsErrCode code{};
  check(js_PublishMsg(&ack, context_.get(), message.get(), nullptr, &code),
        "publish to " + rooms_.subjects[room], code);
  rooms_.first_sequence[room] = ack->Sequence;
  rooms_.last_sequence[room] = ack->Sequence;
  rooms_.count[room] = 1;
  jsPubAck_Destroy(ack);
}

PublishStats Publisher::publish(const std::string& prefix, std::size_t count,
                                std::size_t rooms_used) {
  {
    std::lock_guard lock(mutex_);
    rooms_used_ = rooms_used;
    sent_ns_.assign(count, 0);
    latency_ns_.assign(count, -1);
    errors_ = 0;
    duplicates_ = 0;
  }
  const std::int64_t start_ns = now_ns();
  for (std::size_t index = 0; index < count; ++index) {
    const std::size_t room = index % rooms_used;
    MessagePtr message;
    {
      std::unique_lock lock(mutex_);
      // With a counter the room's next message must name the sequence of the
      // previous one, known only from its ack: one publish in flight per room.
      const bool counted = rooms_.layout == Layout::one_stream_counted;
      if (!changed_.wait_for(lock, kAckTimeout, [&] {
            return in_flight_ < window_ && !(counted && room_in_flight_[room]);
          })) {
        throw std::runtime_error("no ack within 30 s");
      }
      ++in_flight_;
      room_in_flight_[room] = true;
      message = make_message(room, prefix + "-" + std::to_string(index));
      sent_ns_[index] = now_ns();
    }
    natsMsg* raw = message.release();
    const natsStatus status = js_PublishMsgAsync(context_.get(), &raw, nullptr);
    if (status != NATS_OK) {
      natsMsg_Destroy(raw);
      check(status, "js_PublishMsgAsync");
    }
  }
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, kAckTimeout, [&] { return in_flight_ == 0; })) {
    throw std::runtime_error("acks missing after 30 s");
  }
  PublishStats stats;
  stats.seconds = static_cast<double>(last_ack_ns_ - start_ns) / 1e9;
  stats.messages_per_second = static_cast<double>(count) / stats.seconds;
  std::vector<std::int64_t> latencies;
  latencies.reserve(count);
  for (const std::int64_t latency : latency_ns_) {
    if (latency >= 0) {
      latencies.push_back(latency);
    }
  }
  stats.ack_p50_us = percentile_us(latencies, 0.50);
  stats.ack_p99_us = percentile_us(latencies, 0.99);
  stats.errors = errors_;
  stats.duplicates = duplicates_;
  return stats;
}

void Publisher::on_ack(jsCtx* /*context*/, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                       void* closure) {
  auto* self = static_cast<Publisher*>(closure);
  if (error != nullptr) {
    self->acknowledged(message, nullptr);
  } else {
    self->acknowledged(message, ack);
  }
  natsMsg_Destroy(message);
}

void Publisher::acknowledged(natsMsg* message, const jsPubAck* ack) {
  const std::int64_t at_ns = now_ns();
  const char* id = nullptr;
  natsMsgHeader_Get(message, kMessageId, &id);
  const char* dash = id != nullptr ? std::strrchr(id, '-') : nullptr;
  std::lock_guard lock(mutex_);
  last_ack_ns_ = at_ns;
  --in_flight_;
  if (dash != nullptr) {
    const std::size_t index = std::stoull(dash + 1);
    const std::size_t room = index % rooms_used_;
    room_in_flight_[room] = false;
    if (ack != nullptr && index < latency_ns_.size()) {
      latency_ns_[index] = at_ns - sent_ns_[index];
      rooms_.last_sequence[room] = ack->Sequence;
      ++rooms_.count[room];
      duplicates_ += ack->Duplicate ? 1 : 0;
    }
  }
  errors_ += ack == nullptr ? 1 : 0;
  changed_.notify_all();
}

}  // namespace relay::bench::nats_positions
