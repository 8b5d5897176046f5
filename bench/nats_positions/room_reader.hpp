#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "jetstream.hpp"
#include "publisher.hpp"

namespace relay::bench::nats_positions {

// Reading one room back, as a relay does to deliver, resume or look up a
// position.

// An ordered push consumer, as a relay would start for a room; the messages
// wait in the subscription until read.
SubscriptionPtr subscribe_ordered(jsCtx* context, const RoomSet& rooms, std::size_t room,
                                  jsDeliverPolicy policy, std::uint64_t start_sequence);
// The subscription's next message; throws after 10 s without one.
MessagePtr next_message(natsSubscription* subscription);

// The room's counter a message carries (layout one_stream_counted).
std::uint64_t room_counter(natsMsg* message);

struct CounterLookup {
  std::uint64_t sequence = 0;
  std::uint64_t counter = 0;
  double probes = 0;
};

// Binary search over stream sequences for the room's first stored message
// with a counter above `after`: counters grow with stream sequences, and a
// direct get by subject returns the room's next message from any sequence.
CounterLookup find_after_counter(jsCtx* context, const std::string& stream,
                                 const std::string& subject, std::uint64_t after,
                                 std::uint64_t last);

}  // namespace relay::bench::nats_positions
