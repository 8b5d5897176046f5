#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace relay::cli::bench {

// One load: who publishes and subscribes, how much and for how long.
struct Workload {
  std::size_t subscribers = 100;  // in total, spread evenly over the rooms
  std::size_t publishers = 1;     // per room
  std::size_t rooms = 1;
  std::size_t streams_per_connection = 100;
  std::size_t message_bytes = 64;
  double rate = 0;  // per publisher; 0 = as fast as acknowledged
  std::size_t window = 64;
  std::chrono::milliseconds duration{10000};
  std::chrono::milliseconds warmup{1000};
  // Streams that join room 0, stay a while and leave, one after another for
  // the whole measurement, beside the steady subscribers.
  std::size_t churners = 0;
  std::chrono::milliseconds churn_stay{20};
  // Whether subscribers accept ServerFrame.batch (relay.proto), as relay-chat
  // does; off measures the relay writing one frame per message.
  bool accept_batch = true;
  // Whether each subscriber stream is a user of its own ("bench-N"), as in a
  // real chat, or all are one user ("bench"). The relay keeps per-user state
  // and tells a room when a user comes and goes; NATS has no users.
  bool user_per_stream = false;
  // Streams that join rooms of their own, 100 a room, before anything else
  // and stay idle: the crowd a chat relay holds beside its busy rooms. They
  // are not measured, only held (each on a connection of its own or sharing
  // as streams_per_connection says).
  std::size_t idle_streams = 0;
};

// The fixed scenarios (fanout, latency, quiet, rooms, idle, churn, crowd), so that results compare
// over time; false for an unknown name.
bool apply_scenario(const std::string& name, Workload& workload);

}  // namespace relay::cli::bench
