#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace relay::common {

inline constexpr const char* kRelayVersion = "0.1.0";

// Everything relay-server can be told. Defaults are what a single relay on a
// small machine should run with; every field has a JSON key of the same name
// and a flag with dashes (history_max_messages -> --history-max-messages).
struct RelayConfig {
  std::string listen_address = "127.0.0.1:50051";
  // Where /metrics is served over HTTP; empty: not served.
  std::string metrics_listen;

  // Messages.
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_rooms_per_stream = 64;
  // Publishes per second and burst allowed to one user, across all that
  // user's Chat streams and PublishBatch calls; 0 turns it off.
  double publish_rate_per_second = 500;
  std::size_t publish_burst = 1000;

  // Abuse limits; 0 turns each off. Streams count Chat, Follow and
  // PublishBatch calls; a peer is a client's address without its port.
  std::size_t max_streams = 20000;
  std::size_t max_streams_per_user = 100;
  std::size_t max_streams_per_peer = 1000;
  // New rooms one user, and one client address, may create per minute (a
  // burst of as many at once). User names are not verified, so the address
  // bounds a client that changes names.
  std::size_t room_creations_per_user_per_minute = 120;
  std::size_t room_creations_per_peer_per_minute = 600;
  // Joins one Chat stream may make per second, after a burst of twice
  // max_rooms_per_stream (so rejoining every room after a reconnect is free).
  double join_rate_per_second = 10;

  // Rooms and history.
  std::size_t history_max_messages = 1000;
  std::size_t history_max_bytes = 8 * 1024 * 1024;
  // Bytes all rooms' histories hold together; past it the oldest messages
  // of the relay go first. 0 turns the budget off.
  std::size_t history_total_max_bytes = std::size_t{1024} * 1024 * 1024;
  // Messages older than this leave the history (within a sweep interval);
  // 0 keeps them as long as the count and byte limits allow.
  std::int64_t history_max_age_ms = 0;
  // An empty room is removed once its last message is older than this.
  std::int64_t room_idle_ttl_ms = 5 * 60 * 1000;
  std::size_t max_rooms = 10000;
  // A repeated client message id from the same sender within this window is
  // acknowledged with its first sequence and not delivered again.
  std::int64_t duplicate_window_ms = 10 * 60 * 1000;
  std::size_t duplicate_window_max_ids = 10000;
  std::size_t history_query_max_messages = 100;

  // Subscribers.
  std::size_t subscriber_queue_max_frames = 4096;
  std::size_t subscriber_queue_max_bytes = 8 * 1024 * 1024;
  // A slow consumer whose last write is still stuck this long after it was
  // closed is cancelled, so a client that stopped reading cannot hold a stream.
  std::int64_t slow_consumer_grace_ms = 5000;
  // A busy stream that takes batches starts at most one write per linger
  // (microseconds; 0 = write whenever a frame is queued and none is in
  // flight, which is what a relay with CPU to spare should do: a person
  // waits for every microsecond of it).
  std::int64_t write_linger_us = 0;
  // While the relay is saturated the linger grows, up to this, so that busy
  // streams join their frames again (microseconds; at most write_linger_us
  // keeps it fixed).
  std::int64_t max_write_linger_us = 100000;

  // Connections (gRPC's keepalive and connection management).
  std::int64_t keepalive_time_ms = 30000;
  std::int64_t keepalive_timeout_ms = 10000;
  std::int64_t max_connection_idle_ms = 15000;
  // 0 means connections may live for ever.
  std::int64_t max_connection_age_ms = 0;
  std::int64_t max_connection_age_grace_ms = 5000;
  // The shortest ping interval without data the relay accepts from a client.
  std::int64_t min_client_ping_interval_ms = 10000;

  // Shutdown: how long open streams get to drain their queues.
  std::int64_t shutdown_grace_ms = 5000;

  // TLS: PEM files of the relay's certificate chain and private key (both,
  // or neither for plaintext), and of the CA that client certificates must
  // be signed by (mutual TLS; empty: clients show none). The files are read
  // again every tls_reload_interval_ms, so a renewed certificate is served to
  // new connections while open streams go on.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::int64_t tls_reload_interval_ms = 10000;

  // Tokens: with an auth_key, every call must carry `authorization: Bearer
  // <JWT>` signed with it (an HS256 secret of 32 bytes or more, or the PEM
  // public key for RS256 / ES256), and its `sub` is the caller's name;
  // x-relay-user is then ignored. iss and aud are checked when set.
  std::string auth_key;
  std::string auth_algorithm = "HS256";
  std::string auth_issuer;
  std::string auth_audience;
  std::int64_t auth_leeway_ms = 30000;
  // A stream whose token has expired ends this long after `exp` (but never
  // before exp + auth_leeway_ms, until which the token is still accepted)
  // unless its client sent a fresh one (relay.proto: Refresh).
  std::int64_t token_refresh_grace_ms = 30000;
  // Without tokens, callers are only who they say they are: the relay then
  // listens on loopback only, unless this says every client that can reach
  // listen_address is trusted.
  bool allow_anonymous = false;

  // Backplane: "local" (the relay orders its rooms itself) or "nats" (relays
  // share rooms through NATS JetStream: the servers in nats_url, comma
  // separated, and one stream for all rooms, kept on nats_replicas servers).
  // A publish JetStream has not acknowledged within nats_publish_timeout_ms
  // is refused with UNAVAILABLE.
  std::string backplane = "local";
  std::string nats_url = "nats://127.0.0.1:4222";
  std::string nats_stream = "RELAY_ROOMS";
  std::size_t nats_replicas = 1;
  std::int64_t nats_publish_timeout_ms = 5000;

  // Logging: "text" or "json"; level: trace, debug, info, warn, error.
  std::string log_format = "text";
  std::string log_level = "info";
};

nlohmann::json to_json(const RelayConfig& config);

// A configuration error names the key (or flag) at fault.
struct ConfigError {
  std::string key;
  std::string message;
};

// Applies a JSON object on top of `config`. Unknown keys, wrong types and
// out-of-range values are errors naming the key; `config` is unchanged then.
std::optional<ConfigError> apply_json(RelayConfig& config, const nlohmann::json& json);

// The result of reading the command line.
struct StartupOptions {
  RelayConfig config;
  bool print_config = false;
  // Write the bound port here once listening (for scripts and tests that
  // listen on port 0).
  std::string port_file;
  // The same for the metrics port.
  std::string metrics_port_file;
};

// What main should do after parsing: run, or exit with this code (help and
// --version exit 0 after printing; bad flags or config exit 2 after printing
// a message naming the key).
struct ParseOutcome {
  std::optional<StartupOptions> options;
  int exit_code = 0;
};

// Parses argv: defaults, then --config FILE (JSON), then flags, each
// overriding the one before. Prints help or errors to stdout / stderr.
ParseOutcome parse_relay_command_line(int argc, const char* const* argv);

}  // namespace relay::common
