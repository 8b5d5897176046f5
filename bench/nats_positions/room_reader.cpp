#include "room_reader.hpp"

#include "publisher.hpp"

namespace relay::bench::nats_positions {
namespace {

constexpr std::int64_t kReceiveTimeoutMs = 10'000;

// The room's message at or after `sequence`; null when there is none.
MessagePtr next_on_subject(jsCtx* context, const std::string& stream, const std::string& subject,
                           std::uint64_t sequence) {
  jsDirectGetMsgOptions get;
  check(jsDirectGetMsgOptions_Init(&get), "jsDirectGetMsgOptions_Init");
  get.Sequence = sequence;
  get.NextBySubject = subject.c_str();
  natsMsg* raw = nullptr;
  const natsStatus status = js_DirectGetMsg(&raw, context, stream.c_str(), nullptr, &get);
  if (status == NATS_NOT_FOUND) {
    return nullptr;
  }
  check(status, "js_DirectGetMsg " + subject);
  return MessagePtr(raw);
}

}  // namespace

SubscriptionPtr subscribe_ordered(jsCtx* context, const RoomSet& rooms, std::size_t room,
                                  jsDeliverPolicy policy, std::uint64_t start_sequence) {
  jsSubOptions options;
  check(jsSubOptions_Init(&options), "jsSubOptions_Init");
  options.Stream = rooms.streams[room].c_str();
  options.Ordered = true;
  options.Config.DeliverPolicy = policy;
  options.Config.OptStartSeq = start_sequence;
  natsSubscription* subscription = nullptr;
  jsErrCode code{};
  check(js_SubscribeSync(&subscription, context, rooms.subjects[room].c_str(), nullptr, &options,
                         &code),
        "js_SubscribeSync " + rooms.subjects[room], code);
  return SubscriptionPtr(subscription);
}

MessagePtr next_message(natsSubscription* subscription) {
  natsMsg* message = nullptr;
  check(natsSubscription_NextMsg(&message, subscription, kReceiveTimeoutMs), "no message in 10 s");
  return MessagePtr(message);
}

std::uint64_t room_counter(natsMsg* message) {
  const char* value = nullptr;
  check(natsMsgHeader_Get(message, kRoomCounterHeader, &value), "message without Relay-Room-Seq");
  return std::stoull(value);
}

CounterLookup find_after_counter(jsCtx* context, const std::string& stream,
                                 const std::string& subject, std::uint64_t after,
                                 std::uint64_t last) {
  CounterLookup lookup;
  std::uint64_t low = 1;
  std::uint64_t high = last;
  while (low < high) {
    const std::uint64_t middle = low + (high - low) / 2;
    MessagePtr message = next_on_subject(context, stream, subject, middle);
    ++lookup.probes;
    if (message != nullptr && room_counter(message.get()) > after) {
      high = middle;
    } else {
      low = message != nullptr ? stream_sequence(message.get()) + 1 : high;
    }
  }
  MessagePtr found = next_on_subject(context, stream, subject, low);
  ++lookup.probes;
  if (found != nullptr) {
    lookup.sequence = stream_sequence(found.get());
    lookup.counter = room_counter(found.get());
  }
  return lookup;
}

}  // namespace relay::bench::nats_positions
