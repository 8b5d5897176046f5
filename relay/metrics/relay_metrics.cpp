#include "relay/metrics/relay_metrics.hpp"

#include "common/config.hpp"
#include "relay/metrics/exposition.hpp"

#ifndef RELAY_GIT_COMMIT
#define RELAY_GIT_COMMIT "unknown"
#endif

namespace relay::metrics {
namespace {

std::vector<double> write_latency_bounds_seconds() {
  std::vector<double> bounds;
  for (const auto us : hub::kWriteLatencyBoundsUs) {
    bounds.push_back(static_cast<double>(us) / 1e6);
  }
  return bounds;
}

void streams(Exposition& out, const RelayReadings& readings) {
  const auto& s = readings.streams;
  out.family("relay_open_streams", "gauge", "Streams open now, by RPC.");
  out.sample("relay_open_streams", static_cast<double>(s.open_chat), {{"kind", "chat"}});
  out.sample("relay_open_streams", static_cast<double>(s.open_follow), {{"kind", "follow"}});
  out.sample("relay_open_streams", static_cast<double>(readings.open_batches),
             {{"kind", "publish_batch"}});
  out.family("relay_deliveries_total", "counter",
             "Frames written to Chat and Follow streams (messages, acks, notices, presence).");
  out.sample("relay_deliveries_total", static_cast<double>(s.totals.frames_written));
  out.family("relay_subscriber_writes_total", "counter",
             "gRPC writes to Chat and Follow streams; a batch of frames is one write.");
  out.sample("relay_subscriber_writes_total", static_cast<double>(s.totals.writes));
  out.family("relay_subscriber_bytes_written_total", "counter",
             "Bytes of the frames written to Chat and Follow streams.");
  out.sample("relay_subscriber_bytes_written_total", static_cast<double>(s.totals.bytes_written));
  out.family("relay_slow_consumer_closes_total", "counter",
             "Streams closed with RESOURCE_EXHAUSTED because their queue overflowed.");
  out.sample("relay_slow_consumer_closes_total",
             static_cast<double>(s.totals.slow_consumer_closes));
  out.family("relay_subscriber_queued_frames", "gauge",
             "Frames waiting in all streams' queues, not counting writes in flight.");
  out.sample("relay_subscriber_queued_frames", static_cast<double>(s.queued_frames));
  out.family("relay_subscriber_queued_bytes", "gauge",
             "Bytes of the frames waiting in all streams' queues.");
  out.sample("relay_subscriber_queued_bytes", static_cast<double>(s.queued_bytes));
  out.family("relay_subscriber_queued_frames_max", "gauge",
             "Frames waiting in the fullest stream's queue.");
  out.sample("relay_subscriber_queued_frames_max", static_cast<double>(s.max_queued_frames));
  out.family("relay_write_latency_seconds", "histogram",
             "From the start of a write to a batching stream to its completion.");
  out.histogram("relay_write_latency_seconds", write_latency_bounds_seconds(),
                {s.totals.write_latency_buckets.begin(), s.totals.write_latency_buckets.end()},
                static_cast<double>(s.totals.write_latency_sum_us) / 1e6);
}

void rooms(Exposition& out, const RelayReadings& readings) {
  const auto& hub = readings.hub;
  out.family("relay_rooms", "gauge", "Rooms held now.");
  out.sample("relay_rooms", static_cast<double>(hub.rooms));
  out.family("relay_room_subscribers", "gauge",
             "Streams in rooms, summed over the rooms (a stream in two rooms counts twice).");
  out.sample("relay_room_subscribers", static_cast<double>(readings.room_subscribers));
  out.family("relay_messages_published_total", "counter", "Messages accepted and numbered.");
  out.sample("relay_messages_published_total", static_cast<double>(hub.messages_published));
  out.family("relay_duplicates_acknowledged_total", "counter",
             "Publishes recognised as repeats of an earlier client message id.");
  out.sample("relay_duplicates_acknowledged_total",
             static_cast<double>(hub.duplicates_acknowledged));
  out.family("relay_history_bytes", "gauge", "Bytes all rooms' histories hold now.");
  out.sample("relay_history_bytes", static_cast<double>(hub.history_bytes));
  out.family("relay_history_messages_dropped_total", "counter",
             "Messages taken out of the histories before their room's own limits would have: "
             "for the relay-wide byte budget, or for their age.");
  out.sample("relay_history_messages_dropped_total",
             static_cast<double>(hub.messages_evicted_by_history_budget), {{"reason", "budget"}});
  out.sample("relay_history_messages_dropped_total",
             static_cast<double>(hub.messages_expired_by_age), {{"reason", "age"}});
  out.family("relay_rooms_created_total", "counter", "Rooms created since the start.");
  out.sample("relay_rooms_created_total", static_cast<double>(hub.rooms_created));
  out.family("relay_rooms_removed_total", "counter",
             "Rooms removed since the start (idle and empty, or left empty with no message).");
  out.sample("relay_rooms_removed_total", static_cast<double>(hub.rooms_removed));
}

}  // namespace

std::string render(const RelayReadings& readings) {
  Exposition out;
  streams(out, readings);
  rooms(out, readings);
  out.family("relay_refusals_total", "counter",
             "Frames and calls refused, by the status code of the refusal.");
  for (const auto& [code, count] : readings.refusals) {
    out.sample("relay_refusals_total", static_cast<double>(count), {{"code", code}});
  }
  out.family("relay_token_refreshes_total", "counter",
             "Fresh tokens accepted on open Chat streams (Refresh frames).");
  out.sample("relay_token_refreshes_total", static_cast<double>(readings.token_refreshes));
  out.family("relay_token_expired_streams_total", "counter",
             "Streams ended UNAUTHENTICATED because their token ran out and no fresh one came "
             "within the grace.");
  out.sample("relay_token_expired_streams_total",
             static_cast<double>(readings.token_expired_streams));
  out.family("relay_stuck_write_cancels_total", "counter",
             "Closed streams cancelled because their last write was still stuck after the grace "
             "(a client that reads nothing).");
  out.sample("relay_stuck_write_cancels_total", static_cast<double>(readings.stuck_write_cancels));
  out.family("relay_backplane_up", "gauge", "1 while the backplane serves, 0 otherwise.");
  out.sample("relay_backplane_up", readings.backplane_serving ? 1 : 0);
  out.family("relay_backplane_shed_streams_total", "counter",
             "Chat and Follow streams ended UNAVAILABLE because the backplane had not served "
             "for 10 s, so that their clients connect again.");
  out.sample("relay_backplane_shed_streams_total", static_cast<double>(readings.shed_streams));
  out.family("relay_backplane_refused_publishes_total", "counter",
             "Publishes refused UNAVAILABLE because the message broker was out of reach or did "
             "not store them in time.");
  out.sample("relay_backplane_refused_publishes_total",
             static_cast<double>(readings.backplane.refused_publishes));
  out.family("relay_backplane_disconnects_total", "counter",
             "Times the connection to the message broker was lost.");
  out.sample("relay_backplane_disconnects_total",
             static_cast<double>(readings.backplane.disconnects));
  out.family("relay_backplane_ack_seconds", "summary",
             "From a publish to the message broker's acknowledgement; quantiles over the last "
             "minute.");
  out.sample("relay_backplane_ack_seconds", readings.backplane.ack_seconds_p50,
             {{"quantile", "0.5"}});
  out.sample("relay_backplane_ack_seconds", readings.backplane.ack_seconds_p99,
             {{"quantile", "0.99"}});
  out.sample("relay_backplane_ack_seconds_sum", readings.backplane.ack_seconds_sum);
  out.sample("relay_backplane_ack_seconds_count", static_cast<double>(readings.backplane.acks));
  out.family("relay_backplane_consumer_restarts_total", "counter",
             "Times the relay read the broker again after the last message it had (a reconnect, "
             "a lost consumer).");
  out.sample("relay_backplane_consumer_restarts_total",
             static_cast<double>(readings.backplane.consumer_restarts));
  out.family("relay_backplane_servers_left_total", "counter",
             "Times the relay left a broker server that answered none of its set-up requests "
             "for over 10 s, for another server.");
  out.sample("relay_backplane_servers_left_total",
             static_cast<double>(readings.backplane.servers_left));
  out.family("relay_build_info", "gauge", "Always 1; the labels say which build this is.");
  out.sample("relay_build_info", 1,
             {{"version", common::kRelayVersion}, {"commit", RELAY_GIT_COMMIT}});
  return out.text();
}

}  // namespace relay::metrics
