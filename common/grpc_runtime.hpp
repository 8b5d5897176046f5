#pragma once

namespace relay::common {

// Debian 12 builds Abseil without NDEBUG, so every absl::Mutex that gRPC
// takes also records lock order in a global graph for deadlock detection;
// that bookkeeping is for tests of Abseil itself, not for a running
// process. Call first in main, before gRPC starts any thread.
void disable_abseil_deadlock_detection();

}  // namespace relay::common
