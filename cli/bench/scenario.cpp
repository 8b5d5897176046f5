#include "cli/bench/scenario.hpp"

namespace relay::cli::bench {

bool apply_scenario(const std::string& name, Workload& workload) {
  using std::chrono::milliseconds;
  if (name == "fanout") {
    workload = {.subscribers = 100, .publishers = 1, .rooms = 1, .message_bytes = 64, .rate = 0};
  } else if (name == "latency") {
    workload = {
        .subscribers = 100, .publishers = 1, .rooms = 1, .message_bytes = 256, .rate = 1000};
  } else if (name == "rooms") {
    workload = {
        .subscribers = 50 * 20, .publishers = 1, .rooms = 50, .message_bytes = 64, .rate = 0};
  } else if (name == "idle") {
    workload = {.subscribers = 10000,
                .publishers = 0,
                .rooms = 1,
                .streams_per_connection = 100,
                .warmup = milliseconds(0)};
  } else if (name == "churn") {
    workload = {.subscribers = 20,
                .publishers = 1,
                .rooms = 1,
                .message_bytes = 64,
                .rate = 1000,
                .churners = 4};
  } else {
    return false;
  }
  return true;
}

}  // namespace relay::cli::bench
