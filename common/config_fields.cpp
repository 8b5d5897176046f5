#include "common/config_fields.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "common/log_names.hpp"

namespace relay::common {
namespace {

using Count = NumberField<std::size_t>;
using Millis = NumberField<std::int64_t>;
using Micros = NumberField<std::int64_t>;
using Rate = NumberField<double>;

constexpr std::size_t kMiB = std::size_t{1024} * 1024;
constexpr std::size_t kNoMaxCount = std::numeric_limits<std::size_t>::max();
// gRPC takes its keepalive and connection durations as int channel args; one
// cap for every duration also keeps deadline arithmetic far from overflow.
constexpr std::int64_t kMaxMillis = std::numeric_limits<int>::max();

bool is_host_and_port(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  const std::string_view port = address.substr(colon + 1);
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  return error == std::errc{} && end == port.data() + port.size() && value <= 65535;
}

bool is_metrics_address(std::string_view address) {
  return address.empty() || is_host_and_port(address);
}

bool is_log_level_name(std::string_view name) { return log_level_from_name(name).has_value(); }

bool is_any_text(std::string_view) { return true; }

bool is_backplane_kind(std::string_view name) { return name == "local" || name == "nats"; }

// nats://HOST:PORT or tls://HOST:PORT, comma separated; libnats reads the list.
bool is_nats_url_list(std::string_view urls) {
  if (urls.empty()) {
    return false;
  }
  for (;;) {
    const auto comma = urls.find(',');
    std::string_view url = urls.substr(0, comma);
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
      return false;
    }
    const std::string_view name = url.substr(0, scheme);
    if ((name != "nats" && name != "tls") || !is_host_and_port(url.substr(scheme + 3))) {
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    urls.remove_prefix(comma + 1);
  }
}

// JetStream stream names may not hold '.', '*', '>', white space or path separators.
bool is_stream_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool is_token_algorithm(std::string_view name) {
  return name == "HS256" || name == "RS256" || name == "ES256";
}

const ConfigField kFields[] = {
    {.key = "listen_address",
     .flag_alias = "--listen",
     .value_name = "HOST:PORT",
     .help = "Address to listen on; port 0 picks a free port (see --port-file).",
     .rule = TextField{&RelayConfig::listen_address, is_host_and_port,
                       "HOST:PORT with a port from 0 to 65535"}},
    {.key = "metrics_listen",
     .value_name = "HOST:PORT",
     .help = "Address to serve Prometheus metrics on, at /metrics over HTTP (an IP address; "
             "port 0 picks a free port, see --metrics-port-file); empty: not served.",
     .rule = TextField{&RelayConfig::metrics_listen, is_metrics_address,
                       "empty, or HOST:PORT with a port from 0 to 65535"}},
    {.key = "max_body_bytes",
     .value_name = "BYTES",
     .help = "Largest message body accepted, in bytes (at most 16 MiB).",
     .rule = Count{&RelayConfig::max_body_bytes, 1, 16 * kMiB}},
    {.key = "max_rooms_per_stream",
     .value_name = "COUNT",
     .help = "Most rooms one stream may be joined to at once.",
     .rule = Count{&RelayConfig::max_rooms_per_stream, 1, kNoMaxCount}},
    {.key = "publish_rate_per_second",
     .value_name = "PER_SECOND",
     .help = "Publishes per second allowed to one user, across all their streams and "
             "batches; 0 turns the limit off.",
     .rule = Rate{&RelayConfig::publish_rate_per_second, 0, std::numeric_limits<double>::max()}},
    {.key = "publish_burst",
     .value_name = "COUNT",
     .help = "Publishes one user may send at once before the rate applies.",
     .rule = Count{&RelayConfig::publish_burst, 1, kNoMaxCount}},
    {.key = "max_streams",
     .value_name = "COUNT",
     .help = "Most streams (Chat, Follow and PublishBatch calls) the relay holds open; 0 means "
             "no limit.",
     .rule = Count{&RelayConfig::max_streams, 0, kNoMaxCount}},
    {.key = "max_streams_per_user",
     .value_name = "COUNT",
     .help = "Most streams one user may hold open; 0 means no limit.",
     .rule = Count{&RelayConfig::max_streams_per_user, 0, kNoMaxCount}},
    {.key = "max_streams_per_peer",
     .value_name = "COUNT",
     .help = "Most streams one client address (without its port) may hold open; 0 means no "
             "limit.",
     .rule = Count{&RelayConfig::max_streams_per_peer, 0, kNoMaxCount}},
    {.key = "room_creations_per_user_per_minute",
     .value_name = "COUNT",
     .help = "New rooms one user may create per minute, by joining, following or publishing; "
             "0 means no limit.",
     .rule = Count{&RelayConfig::room_creations_per_user_per_minute, 0, kNoMaxCount}},
    {.key = "room_creations_per_peer_per_minute",
     .value_name = "COUNT",
     .help = "New rooms the users of one client address (without its port) may create per "
             "minute together; 0 means no limit.",
     .rule = Count{&RelayConfig::room_creations_per_peer_per_minute, 0, kNoMaxCount}},
    {.key = "join_rate_per_second",
     .value_name = "PER_SECOND",
     .help = "Joins per second allowed on one Chat stream after a burst of twice "
             "--max-rooms-per-stream; 0 turns the limit off.",
     .rule = Rate{&RelayConfig::join_rate_per_second, 0, std::numeric_limits<double>::max()}},
    {.key = "history_max_messages",
     .value_name = "COUNT",
     .help = "Messages each room keeps for replay to joining clients.",
     .rule = Count{&RelayConfig::history_max_messages, 1, kNoMaxCount}},
    {.key = "history_max_bytes",
     .value_name = "BYTES",
     .help = "Bytes of messages each room keeps for replay.",
     .rule = Count{&RelayConfig::history_max_bytes, 1, kNoMaxCount}},
    {.key = "history_total_max_bytes",
     .value_name = "BYTES",
     .help = "Bytes the histories of all rooms hold together; beyond it the relay's oldest "
             "messages are dropped first. 0 means no budget.",
     .rule = Count{&RelayConfig::history_total_max_bytes, 0, kNoMaxCount}},
    {.key = "history_max_age_ms",
     .value_name = "MS",
     .help = "Milliseconds a message stays in the history at most (checked every few seconds; "
             "with --backplane nats, the stream's MaxAge too). 0: kept as long as the count "
             "and byte limits allow.",
     .rule = Millis{&RelayConfig::history_max_age_ms, 0, kMaxMillis}},
    {.key = "room_idle_ttl_ms",
     .value_name = "MS",
     .help = "Milliseconds after its last message before an empty room is removed (later while "
             "its duplicate window remembers a client message id).",
     .rule = Millis{&RelayConfig::room_idle_ttl_ms, 0, kMaxMillis}},
    {.key = "max_rooms",
     .value_name = "COUNT",
     .help = "Most rooms the relay holds at once; joining or publishing to a new room beyond "
             "it is refused with RESOURCE_EXHAUSTED.",
     .rule = Count{&RelayConfig::max_rooms, 1, kNoMaxCount}},
    {.key = "duplicate_window_ms",
     .value_name = "MS",
     .help = "Milliseconds during which a resent client message id is acknowledged, not "
             "delivered again; 0 turns duplicate detection off.",
     .rule = Millis{&RelayConfig::duplicate_window_ms, 0, kMaxMillis}},
    {.key = "duplicate_window_max_ids",
     .value_name = "COUNT",
     .help = "Most client message ids each room remembers for duplicate detection.",
     .rule = Count{&RelayConfig::duplicate_window_max_ids, 1, kNoMaxCount}},
    {.key = "history_query_max_messages",
     .value_name = "COUNT",
     .help = "Most messages one history query returns.",
     .rule = Count{&RelayConfig::history_query_max_messages, 1, kNoMaxCount}},
    {.key = "subscriber_queue_max_frames",
     .value_name = "COUNT",
     .help = "Most messages queued for one subscriber before it is closed as too slow.",
     .rule = Count{&RelayConfig::subscriber_queue_max_frames, 1, kNoMaxCount}},
    {.key = "subscriber_queue_max_bytes",
     .value_name = "BYTES",
     .help = "Most bytes queued for one subscriber before it is closed as too slow.",
     .rule = Count{&RelayConfig::subscriber_queue_max_bytes, 1, kNoMaxCount}},
    {.key = "keepalive_time_ms",
     .value_name = "MS",
     .help = "Milliseconds without traffic before the relay pings a client (at least 1000).",
     .rule = Millis{&RelayConfig::keepalive_time_ms, 1000, kMaxMillis}},
    {.key = "keepalive_timeout_ms",
     .value_name = "MS",
     .help = "Milliseconds the relay waits for a ping's answer before closing the connection.",
     .rule = Millis{&RelayConfig::keepalive_timeout_ms, 1, kMaxMillis}},
    {.key = "max_connection_idle_ms",
     .value_name = "MS",
     .help = "Milliseconds a connection with no open calls stays open.",
     .rule = Millis{&RelayConfig::max_connection_idle_ms, 1, kMaxMillis}},
    {.key = "max_connection_age_ms",
     .value_name = "MS",
     .help = "Milliseconds after which a connection is asked to close; 0 means never.",
     .rule = Millis{&RelayConfig::max_connection_age_ms, 0, kMaxMillis}},
    {.key = "max_connection_age_grace_ms",
     .value_name = "MS",
     .help = "Milliseconds open calls get to finish once their connection is too old.",
     .rule = Millis{&RelayConfig::max_connection_age_grace_ms, 0, kMaxMillis}},
    {.key = "min_client_ping_interval_ms",
     .value_name = "MS",
     .help = "Shortest interval between client pings without data that the relay accepts, "
             "in milliseconds (at least 1000).",
     .rule = Millis{&RelayConfig::min_client_ping_interval_ms, 1000, kMaxMillis}},
    {.key = "slow_consumer_grace_ms",
     .value_name = "MS",
     .help = "Milliseconds a closed slow consumer's stuck write may take before its stream is "
             "cancelled.",
     .rule = Millis{&RelayConfig::slow_consumer_grace_ms, 0, kMaxMillis}},
    {.key = "write_linger_us",
     .value_name = "US",
     .help = "Microseconds a busy stream waits after starting a write before the next, so "
             "that its frames go out together, even while the relay has CPU to spare (a stream "
             "that takes no batches writes at once and holds its connection that long "
             "instead); 0 lingers only while the relay is saturated (at most 1 s).",
     .rule = Micros{&RelayConfig::write_linger_us, 0, 1000 * 1000}},
    {.key = "max_write_linger_us",
     .value_name = "US",
     .help = "Microseconds the linger grows to at most while the relay is saturated (from "
             "1 ms), so that busy streams send fewer, fuller writes; at most --write-linger-us "
             "keeps the linger fixed, 0 with it turns lingering off (at most 1 s).",
     .rule = Micros{&RelayConfig::max_write_linger_us, 0, 1000 * 1000}},
    {.key = "shutdown_grace_ms",
     .value_name = "MS",
     .help = "Milliseconds a stream the relay ends (as it stops, cannot reach its message "
             "broker, or refuses the stream's frames) gets to drain its queue before it is "
             "cancelled.",
     .rule = Millis{&RelayConfig::shutdown_grace_ms, 0, kMaxMillis}},
    {.key = "tls_cert",
     .value_name = "FILE",
     .help = "PEM certificate chain the relay shows clients; with --tls-key, the relay speaks "
             "only TLS. Empty: plaintext.",
     .rule = TextField{&RelayConfig::tls_cert, is_any_text, "a file path"}},
    {.key = "tls_key",
     .value_name = "FILE",
     .help = "PEM private key of --tls-cert.",
     .rule = TextField{&RelayConfig::tls_key, is_any_text, "a file path"}},
    {.key = "tls_client_ca",
     .value_name = "FILE",
     .help = "PEM CA certificates that client certificates must be signed by (mutual TLS: a "
             "client without such a certificate is refused). Needs --tls-cert.",
     .rule = TextField{&RelayConfig::tls_client_ca, is_any_text, "a file path"}},
    {.key = "tls_reload_interval_ms",
     .value_name = "MS",
     .help = "Milliseconds between reads of the TLS files: a renewed certificate is used for "
             "new connections without dropping open streams (at least 1000).",
     .rule = Millis{&RelayConfig::tls_reload_interval_ms, 1000, kMaxMillis}},
    {.key = "auth_key",
     .value_name = "FILE",
     .help = "Key that callers' tokens are signed with (an HS256 secret file of 32 bytes or "
             "more, or a PEM public key for RS256 / ES256): every call must then carry "
             "authorization: Bearer <JWT>, whose sub names the caller. Empty: no tokens, callers "
             "name themselves in x-relay-user.",
     .rule = TextField{&RelayConfig::auth_key, is_any_text, "a file path"}},
    {.key = "auth_algorithm",
     .value_name = "ALG",
     .help = "The one algorithm tokens may be signed with: HS256, RS256 or ES256.",
     .rule = TextField{&RelayConfig::auth_algorithm, is_token_algorithm, "HS256, RS256 or ES256"}},
    {.key = "auth_issuer",
     .value_name = "TEXT",
     .help = "When set, a token's iss must be exactly this.",
     .rule = TextField{&RelayConfig::auth_issuer, is_any_text, "any text"}},
    {.key = "auth_audience",
     .value_name = "TEXT",
     .help = "When set, a token's aud must be exactly this.",
     .rule = TextField{&RelayConfig::auth_audience, is_any_text, "any text"}},
    {.key = "auth_leeway_ms",
     .value_name = "MS",
     .help = "Milliseconds of clock skew allowed when checking a token's exp and nbf.",
     .rule = Millis{&RelayConfig::auth_leeway_ms, 0, 600000}},
    {.key = "token_refresh_grace_ms",
     .value_name = "MS",
     .help = "How long after its token's exp a Chat or Follow stream goes on without a fresh "
             "token (a Refresh frame) before it ends with UNAUTHENTICATED; never less than "
             "--auth-leeway-ms.",
     .rule = Millis{&RelayConfig::token_refresh_grace_ms, 0, 3600000}},
    {.key = "allow_anonymous",
     .help = "Serve callers without tokens (no --auth-key) on an address other machines reach, "
             "taking their word for who they are. Without it such a relay refuses to start: "
             "only loopback is anonymous.",
     .rule = SwitchField{&RelayConfig::allow_anonymous}},
    {.key = "backplane",
     .value_name = "KIND",
     .help = "local: this relay orders its rooms on its own. nats: relays share rooms through "
             "NATS JetStream (see --nats-url), so clients may use any of them.",
     .rule = TextField{&RelayConfig::backplane, is_backplane_kind, "local or nats"}},
    {.key = "nats_url",
     .value_name = "URLS",
     .help = "NATS servers for --backplane nats, comma separated (nats://HOST:PORT or "
             "tls://HOST:PORT); the relay reconnects to any of them.",
     .rule = TextField{&RelayConfig::nats_url, is_nats_url_list,
                       "nats://HOST:PORT or tls://HOST:PORT, comma separated"}},
    {.key = "nats_stream",
     .value_name = "NAME",
     .help = "JetStream stream that holds every room's messages (created if missing).",
     .rule = TextField{&RelayConfig::nats_stream, is_stream_name,
                       "letters, digits, '_' and '-', at most 64"}},
    {.key = "nats_replicas",
     .value_name = "N",
     .help = "NATS servers that keep a copy of the stream (1 to 5; more than 1 needs a NATS "
             "cluster).",
     .rule = Count{&RelayConfig::nats_replicas, 1, 5}},
    {.key = "nats_publish_timeout_ms",
     .value_name = "MS",
     .help = "Milliseconds a publish waits for JetStream's acknowledgement before the client "
             "is told UNAVAILABLE (it resends with the same id; nothing is delivered twice).",
     .rule = Millis{&RelayConfig::nats_publish_timeout_ms, 100, 600000}},
    {.key = "log_format",
     .value_name = "FORMAT",
     .help = "Log line format on stderr: text for people, json for one object per line.",
     .rule = TextField{&RelayConfig::log_format, is_log_format_name, kLogFormatNames}},
    {.key = "log_level",
     .value_name = "LEVEL",
     .help = "Least severe level logged: trace, debug, info, warn, error, critical or off.",
     .rule = TextField{&RelayConfig::log_level, is_log_level_name, kLogLevelNames}},
};

}  // namespace

std::span<const ConfigField> config_fields() { return kFields; }

const ConfigField* find_config_field(std::string_view key) {
  const auto* found = std::find_if(std::begin(kFields), std::end(kFields),
                                   [key](const ConfigField& field) { return field.key == key; });
  return found == std::end(kFields) ? nullptr : found;
}

}  // namespace relay::common
