#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "publisher.hpp"

namespace relay::bench::nats_positions {

struct Options {
  std::string url;
  Layout layout = Layout::one_stream;
  std::size_t rooms = 10'000;
  std::size_t messages = 100'000;
  std::size_t window = 256;
  std::size_t body_bytes = 100;
  // Rooms with a local subscriber on the relay of the consumers phase.
  std::size_t consumers = 1'000;
  // Messages published over all rooms while those consumers run.
  std::size_t consumer_messages = 50'000;
  // Rooms sampled for the per-room operations (last position, start, resume).
  std::size_t samples = 50;
  std::size_t history_per_room = 1'000;
  pid_t server_pid = 0;
  std::string store_dir;
};

// One run against a fresh nats-server: creates the rooms, publishes, and
// times the per-room operations a relay needs; returns the figures.
nlohmann::json run(const Options& options);

}  // namespace relay::bench::nats_positions
