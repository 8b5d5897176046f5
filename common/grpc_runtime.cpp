#include "common/grpc_runtime.hpp"

#include <absl/synchronization/mutex.h>

namespace relay::common {

void disable_abseil_deadlock_detection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace relay::common
