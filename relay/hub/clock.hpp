#pragma once

#include <cstdint>
#include <functional>

namespace relay::hub {

// The times a room reads, in microseconds. The wall clock (since the Unix
// epoch) stamps messages, which clients show and which a message from
// another relay carries as that relay read it, and ages histories. The
// steady clock times the duplicate window and the idle TTL, which a step of
// the wall clock (NTP, a virtual machine resumed) must not shift: a step
// forward would forget the ids that a reconnecting client resends, and
// deliver its messages twice.
struct HubTime {
  std::int64_t wall_us = 0;
  std::int64_t steady_us = 0;
};

// Injectable so tests control time.
using Clock = std::function<HubTime()>;
HubTime system_now();

}  // namespace relay::hub
