#include "cli/bench/scenario.hpp"

namespace relay::cli::bench {

bool apply_scenario(const std::string& name, Workload& workload) {
  using std::chrono::milliseconds;
  if (name == "fanout") {
    workload = {.subscribers = 100, .publishers = 1, .rooms = 1, .message_bytes = 64, .rate = 0};
  } else if (name == "latency") {
    workload = {
        .subscribers = 100, .publishers = 1, .rooms = 1, .message_bytes = 256, .rate = 1000};
  } else if (name == "quiet") {
    workload = {.subscribers = 100, .publishers = 1, .rooms = 1, .message_bytes = 256, .rate = 100};
  } else if (name == "rooms") {
    workload = {
        .subscribers = 50 * 20, .publishers = 1, .rooms = 50, .message_bytes = 64, .rate = 0};
  } else if (name == "idle") {
    // Each stream a user of its own, as in a chat, so that the relay's
    // per-user state is measured too; in rooms of 100, as a chat has them.
    // The relay tells a room of each user who joins it: 10,000 users in one
    // room would be 50 million presence frames, a storm rather than idle
    // streams (issue 12 asks for presence on request).
    workload = {.subscribers = 10000,
                .publishers = 0,
                .rooms = 100,
                .streams_per_connection = 100,
                .warmup = milliseconds(0),
                .user_per_stream = true};
  } else if (name == "churn") {
    workload = {.subscribers = 20,
                .publishers = 1,
                .rooms = 1,
                .message_bytes = 64,
                .rate = 1000,
                .churners = 4};
  } else if (name == "crowd") {
    // latency's room beside 10,000 idle users, as a chat relay holds many
    // more people than are talking: what each delivery costs must not grow
    // with the streams that only wait.
    workload = {.subscribers = 100,
                .publishers = 1,
                .rooms = 1,
                .message_bytes = 256,
                .rate = 1000,
                .user_per_stream = true,
                .idle_streams = 10000};
  } else {
    return false;
  }
  return true;
}

}  // namespace relay::cli::bench
