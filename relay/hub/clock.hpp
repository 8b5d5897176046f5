#pragma once

#include <cstdint>
#include <functional>

namespace relay::hub {

// The times a room reads, in microseconds. The wall clock (since the Unix
// epoch) stamps messages, which clients show and which a message from
// another relay carries as that relay read it. The steady clock times the
// duplicate window, the idle TTL and the age of what histories hold (their
// age limit and the relay-wide budget's oldest-first), which a step of the
// wall clock (NTP, a virtual machine resumed) must not shift: a step
// forward would forget the ids that a reconnecting client resends, and
// deliver its messages twice, or empty every history at once.
struct HubTime {
  std::int64_t wall_us = 0;
  std::int64_t steady_us = 0;
};

// Injectable so tests control time.
using Clock = std::function<HubTime()>;
HubTime system_now();

}  // namespace relay::hub
