#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "relay/backplane/backplane.hpp"
#include "relay/hub/hub.hpp"
#include "relay/hub/subscriber_stats.hpp"

namespace relay::metrics {

// What one scrape reads from the relay, gathered by the service.
struct RelayReadings {
  hub::HubStats hub;
  hub::SubscriberStats::Snapshot streams;
  std::size_t open_batches = 0;
  // Streams in rooms, summed over the rooms (a stream in two rooms counts twice).
  std::size_t room_subscribers = 0;
  // Refusals since the start by the status code they carry ("invalid_argument").
  std::vector<std::pair<std::string, std::uint64_t>> refusals;
  // Tokens refreshed on open streams, and streams ended for a token that ran out.
  std::uint64_t token_refreshes = 0;
  std::uint64_t token_expired_streams = 0;
  bool backplane_serving = true;
  // Streams ended because the backplane had not served for a while.
  std::uint64_t shed_streams = 0;
  // Closed streams cancelled because their last write stayed stuck.
  std::uint64_t stuck_write_cancels = 0;
  backplane::BackplaneStats backplane;
};

// The relay's metrics in the Prometheus text format; README's Metrics section
// documents every one of them.
std::string render(const RelayReadings& readings);

}  // namespace relay::metrics
