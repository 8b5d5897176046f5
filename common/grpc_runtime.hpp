#pragma once

namespace relay::common {

// Debian 12 builds Abseil without NDEBUG, so every absl::Mutex that gRPC
// takes also updates a process-wide lock-order graph for deadlock
// detection, a debugging aid that a running relay or bench only pays for.
// Call first in main, before gRPC starts any thread.
void disable_abseil_deadlock_detection();

}  // namespace relay::common
