#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.hpp"

namespace {

using nlohmann::json;
using relay::common::apply_json;
using relay::common::ConfigError;
using relay::common::parse_relay_command_line;
using relay::common::ParseOutcome;
using relay::common::RelayConfig;
using relay::common::to_json;

// Update when RelayConfig gains a field: it makes a field missing from the
// catalogue in config_fields.cpp fail the round-trip test below.
constexpr std::size_t kFieldCount = 51;

// Every field differs from its default, and stays within its range.
RelayConfig changed_config() {
  RelayConfig config;
  config.listen_address = "0.0.0.0:6000";
  config.metrics_listen = "127.0.0.1:9464";
  config.max_body_bytes = 1000;
  config.max_rooms_per_stream = 3;
  config.publish_rate_per_second = 12.5;
  config.publish_burst = 7;
  config.history_max_messages = 11;
  config.history_max_bytes = 12345;
  config.history_total_max_bytes = 123456;
  config.max_streams = 21;
  config.max_streams_per_user = 22;
  config.max_streams_per_peer = 23;
  config.room_creations_per_user_per_minute = 24;
  config.room_creations_per_peer_per_minute = 25;
  config.join_rate_per_second = 2.5;
  config.room_idle_ttl_ms = 60000;
  config.max_rooms = 77;
  config.duplicate_window_ms = 0;
  config.duplicate_window_max_ids = 99;
  config.history_query_max_messages = 13;
  config.subscriber_queue_max_frames = 14;
  config.subscriber_queue_max_bytes = 15000;
  config.keepalive_time_ms = 2000;
  config.keepalive_timeout_ms = 3000;
  config.max_connection_idle_ms = 4000;
  config.max_connection_age_ms = 50000;
  config.max_connection_age_grace_ms = 6000;
  config.min_client_ping_interval_ms = 1500;
  config.slow_consumer_grace_ms = 800;
  config.shutdown_grace_ms = 700;
  config.tls_cert = "/etc/relay/relay.pem";
  config.tls_key = "/etc/relay/relay.key";
  config.tls_client_ca = "/etc/relay/clients-ca.pem";
  config.tls_reload_interval_ms = 60000;
  config.auth_key = "/etc/relay/token.pub";
  config.auth_algorithm = "ES256";
  config.auth_issuer = "https://id.example";
  config.auth_audience = "relay";
  config.auth_leeway_ms = 5000;
  config.token_refresh_grace_ms = 2000;
  config.history_max_age_ms = 3600000;
  config.backplane = "nats";
  config.nats_url = "nats://127.0.0.1:4223,tls://nats.example:4222";
  config.nats_stream = "CHAT-2";
  config.nats_replicas = 3;
  config.nats_publish_timeout_ms = 2000;
  config.allow_anonymous = true;
  config.log_format = "json";
  config.log_level = "debug";
  return config;
}

std::string flag_for_key(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

// Redirects a standard stream into a string for the life of the object.
class CapturedStream {
 public:
  explicit CapturedStream(std::ostream& stream)
      : stream_(stream), saved_(stream.rdbuf(text_.rdbuf())) {}
  ~CapturedStream() { stream_.rdbuf(saved_); }
  CapturedStream(const CapturedStream&) = delete;
  CapturedStream& operator=(const CapturedStream&) = delete;

  std::string text() const { return text_.str(); }

 private:
  std::ostream& stream_;
  std::ostringstream text_;
  std::streambuf* saved_;
};

struct CommandLineResult {
  ParseOutcome outcome;
  std::string out;
  std::string err;
};

CommandLineResult run(std::vector<std::string> args) {
  args.insert(args.begin(), "relay-server");
  std::vector<const char*> argv;
  for (const std::string& arg : args) {
    argv.push_back(arg.c_str());
  }
  CapturedStream out(std::cout);
  CapturedStream err(std::cerr);
  ParseOutcome outcome = parse_relay_command_line(static_cast<int>(argv.size()), argv.data());
  return {std::move(outcome), out.text(), err.text()};
}

// A file in the temporary directory, removed again when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& contents)
      : path_(std::filesystem::temp_directory_path() /
              ("relay_config_test_" + std::to_string(::getpid()) + "_" +
               std::to_string(next_id_++) + ".json")) {
    std::ofstream(path_) << contents;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  std::string path() const { return path_.string(); }

 private:
  static inline int next_id_ = 0;
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("the defaults survive a round trip through JSON") {
  RelayConfig config;
  CHECK_FALSE(apply_json(config, to_json(RelayConfig{})));
  CHECK(to_json(config) == to_json(RelayConfig{}));
}

TEST_CASE("to_json writes every field and apply_json reads each one back") {
  const json written = to_json(changed_config());
  CHECK(written.size() == kFieldCount);
  CHECK(written.at("history_max_messages") == 11);
  CHECK(written.at("publish_rate_per_second") == 12.5);
  CHECK(written.at("log_format") == "json");

  RelayConfig config;
  REQUIRE_FALSE(apply_json(config, written));
  CHECK(to_json(config) == written);
}

TEST_CASE("an unknown config key fails naming the key") {
  RelayConfig config;
  const auto error = apply_json(config, json{{"histroy_max_messages", 5}});
  REQUIRE(error);
  CHECK(error->key == "histroy_max_messages");
  CHECK(error->message == "is not a known setting");
}

TEST_CASE("a value of the wrong JSON type fails naming the key") {
  json settings;
  std::string key;
  std::string message;
  SUBCASE("a string for a number") {
    key = "history_max_messages";
    settings = json{{key, "100"}};
    message = "must be a whole number of at least 1, got \"100\"";
  }
  SUBCASE("a negative number for a size") {
    key = "history_max_messages";
    settings = json::parse(R"({"history_max_messages": -5})");
    message = "must be a whole number of at least 1, got -5";
  }
  SUBCASE("a fraction for a whole number") {
    key = "history_max_messages";
    settings = json{{key, 2.5}};
    message = "must be a whole number of at least 1, got 2.5";
  }
  SUBCASE("a number for a string") {
    key = "log_level";
    settings = json{{key, 3}};
    message = "must be trace, debug, info, warn, error, critical or off, got 3";
  }
  SUBCASE("an object for a number") {
    key = "keepalive_time_ms";
    settings = json{{key, json::object()}};
    message = "must be a whole number from 1000 to 2147483647, got an object";
  }
  RelayConfig config;
  const auto error = apply_json(config, settings);
  REQUIRE(error);
  CHECK(error->key == key);
  CHECK(error->message == message);
}

TEST_CASE("values out of range fail naming the key and the value") {
  const std::vector<std::pair<std::string, json>> bad_values = {
      {"max_body_bytes", 0},
      {"max_body_bytes", 16 * 1024 * 1024 + 1},
      {"history_max_messages", 0},
      {"history_max_bytes", 0},
      {"subscriber_queue_max_frames", 0},
      {"subscriber_queue_max_bytes", 0},
      {"publish_burst", 0},
      {"publish_rate_per_second", -1},
      {"room_idle_ttl_ms", -1},
      {"keepalive_time_ms", 999},
      {"keepalive_timeout_ms", 0},
      {"min_client_ping_interval_ms", 999},
      {"max_connection_age_ms", 3'000'000'000LL},
      {"log_format", "xml"},
      {"log_level", "verbose"},
      {"listen_address", ""},
      {"listen_address", "localhost"},
      {"listen_address", "localhost:http"},
      {"listen_address", "localhost:65536"},
      {"listen_address", ":50051"},
      {"backplane", "redis"},
      {"nats_url", ""},
      {"nats_url", "127.0.0.1:4222"},
      {"nats_url", "http://127.0.0.1:4222"},
      {"nats_url", "nats://127.0.0.1:4222,"},
      {"nats_stream", "relay.rooms"},
      {"nats_stream", ""},
      {"nats_replicas", 0},
      {"nats_replicas", 6},
      {"nats_publish_timeout_ms", 99},
  };
  for (const auto& bad : bad_values) {
    // Named copies, because clang 14 cannot capture structured bindings.
    const std::string& key = bad.first;
    const json& value = bad.second;
    CAPTURE(key);
    CAPTURE(value.dump());
    RelayConfig config;
    const auto error = apply_json(config, json{{key, value}});
    REQUIRE(error);
    CHECK(error->key == key);
    CHECK(error->message.starts_with("must be "));
    const std::string shown =
        value.is_string() ? "\"" + value.get<std::string>() + "\"" : value.dump();
    CHECK(error->message.ends_with(", got " + shown));
  }
}

TEST_CASE("values at the edges of their ranges are accepted") {
  RelayConfig config;
  const auto error = apply_json(config, json{{"max_body_bytes", 16 * 1024 * 1024},
                                             {"history_max_messages", 1},
                                             {"keepalive_time_ms", 1000},
                                             {"min_client_ping_interval_ms", 1000},
                                             {"publish_rate_per_second", 0},
                                             {"max_connection_age_ms", 0},
                                             {"listen_address", "[::1]:0"},
                                             {"log_level", "off"}});
  CHECK_FALSE(error);
  CHECK(config.max_body_bytes == 16 * 1024 * 1024);
  CHECK(config.listen_address == "[::1]:0");
}

TEST_CASE("a failed apply_json leaves the config unchanged") {
  RelayConfig config;
  // Keys are applied in order; history_max_messages comes before the bad one.
  const auto error = apply_json(config, json{{"history_max_messages", 5}, {"log_level", "loud"}});
  REQUIRE(error);
  CHECK(config.history_max_messages == RelayConfig{}.history_max_messages);
}

TEST_CASE("settings that are not a JSON object are rejected") {
  RelayConfig config;
  const auto error = apply_json(config, json::array({1, 2}));
  REQUIRE(error);
  CHECK(error->message == "settings must be a JSON object, got an array");
}

TEST_CASE("without arguments the relay runs with the defaults") {
  const auto result = run({});
  REQUIRE(result.outcome.options);
  CHECK(result.outcome.exit_code == 0);
  CHECK(to_json(result.outcome.options->config) == to_json(RelayConfig{}));
  CHECK_FALSE(result.outcome.options->print_config);
  CHECK(result.outcome.options->port_file.empty());
}

TEST_CASE("flags override the config file, which overrides the defaults") {
  const TempFile file(R"({"history_max_messages": 50, "log_level": "warn"})");
  const auto result = run({"--config", file.path(), "--history-max-messages", "70"});
  REQUIRE(result.outcome.options);
  const RelayConfig& config = result.outcome.options->config;
  CHECK(config.history_max_messages == 70);
  CHECK(config.log_level == "warn");
  CHECK(config.max_body_bytes == RelayConfig{}.max_body_bytes);
}

TEST_CASE("every setting has a flag named after its key with dashes") {
  const json wanted = to_json(changed_config());
  std::vector<std::string> args;
  for (const auto& [key, value] : wanted.items()) {
    if (value.is_boolean()) {
      // A switch takes no value of its own: --allow-anonymous, or =false.
      args.push_back(flag_for_key(key) + "=" + value.dump());
      continue;
    }
    args.push_back(flag_for_key(key));
    args.push_back(value.is_string() ? value.get<std::string>() : value.dump());
  }
  const auto result = run(args);
  REQUIRE(result.outcome.options);
  CHECK(to_json(result.outcome.options->config) == wanted);
}

TEST_CASE("--listen and --listen-address both set the listen address") {
  for (const std::string flag : {"--listen", "--listen-address"}) {
    CAPTURE(flag);
    const auto result = run({flag, "0.0.0.0:7000"});
    REQUIRE(result.outcome.options);
    CHECK(result.outcome.options->config.listen_address == "0.0.0.0:7000");
  }
}

TEST_CASE("a switch is turned on by its flag alone, and set either way by =value or JSON") {
  CHECK_FALSE(RelayConfig{}.allow_anonymous);
  const auto bare = run({"--allow-anonymous"});
  REQUIRE(bare.outcome.options);
  CHECK(bare.outcome.options->config.allow_anonymous);

  const TempFile file(R"({"allow_anonymous": true})");
  const auto overridden = run({"--config", file.path(), "--allow-anonymous=false"});
  REQUIRE(overridden.outcome.options);
  CHECK_FALSE(overridden.outcome.options->config.allow_anonymous);

  const auto bad = run({"--allow-anonymous=yes please"});
  CHECK(bad.outcome.exit_code == 2);
  CHECK(bad.err ==
        "relay-server: config error: --allow-anonymous: must be true or false, got \"yes "
        "please\"\n");

  RelayConfig config;
  const auto error = apply_json(config, json{{"allow_anonymous", "true"}});
  REQUIRE(error);
  CHECK(error->message == "must be true or false, got \"true\"");
}

TEST_CASE("--print-config and --port-file are handed to the caller") {
  const auto result = run({"--print-config", "--port-file", "/tmp/relay.port"});
  REQUIRE(result.outcome.options);
  CHECK(result.outcome.exit_code == 0);
  CHECK(result.outcome.options->print_config);
  CHECK(result.outcome.options->port_file == "/tmp/relay.port");
  CHECK(result.out.empty());
}

TEST_CASE("a bad flag value exits 2 naming the flag") {
  std::vector<std::string> args;
  std::string expected;
  SUBCASE("not a number") {
    args = {"--history-max-messages", "many"};
    expected =
        "relay-server: config error: --history-max-messages: must be a whole number of at "
        "least 1, got \"many\"\n";
  }
  SUBCASE("out of range") {
    args = {"--keepalive-time-ms", "10"};
    expected =
        "relay-server: config error: --keepalive-time-ms: must be a whole number from 1000 "
        "to 2147483647, got 10\n";
  }
  SUBCASE("not one of the choices") {
    args = {"--log-format", "xml"};
    expected = "relay-server: config error: --log-format: must be text or json, got \"xml\"\n";
  }
  const auto result = run(args);
  CHECK_FALSE(result.outcome.options);
  CHECK(result.outcome.exit_code == 2);
  CHECK(result.err == expected);
}

TEST_CASE("a config file that cannot be read fails naming the file") {
  const std::string path = "/nonexistent/relay.json";
  const auto result = run({"--config", path});
  CHECK_FALSE(result.outcome.options);
  CHECK(result.outcome.exit_code == 2);
  CHECK(result.err ==
        "relay-server: config error: " + path + ": cannot be read: No such file or directory\n");
}

TEST_CASE("a config file that is not valid JSON fails naming the file") {
  const TempFile file("{\"history_max_messages\": 5,}");
  const auto result = run({"--config", file.path()});
  CHECK(result.outcome.exit_code == 2);
  CHECK(result.err.starts_with("relay-server: config error: " + file.path() +
                               ": is not valid JSON: parse error at line 1"));
}

TEST_CASE("a config file with a number beyond a double fails naming the file") {
  const TempFile file(R"({"publish_rate_per_second": 1e400})");
  const auto result = run({"--config", file.path()});
  CHECK_FALSE(result.outcome.options);
  CHECK(result.outcome.exit_code == 2);
  CHECK(result.err == "relay-server: config error: " + file.path() +
                          ": is not valid JSON: number overflow parsing '1e400'\n");
}

TEST_CASE("a bad value in the config file fails naming the file and the key") {
  const TempFile file(R"({"max_body_bytes": 0})");
  const auto result = run({"--config", file.path()});
  CHECK(result.outcome.exit_code == 2);
  CHECK(result.err == "relay-server: config error: " + file.path() +
                          ": max_body_bytes: must be a whole number from 1 to 16777216, got 0\n");
}

TEST_CASE("an unknown flag exits 2 with CLI11's message") {
  const auto result = run({"--colour"});
  CHECK_FALSE(result.outcome.options);
  CHECK(result.outcome.exit_code == 2);
  CHECK(result.err.find("--colour") != std::string::npos);
}

TEST_CASE("--help documents every flag and exits 0") {
  const auto result = run({"--help"});
  CHECK_FALSE(result.outcome.options);
  CHECK(result.outcome.exit_code == 0);
  const json defaults = to_json(RelayConfig{});
  for (const auto& item : defaults.items()) {
    const std::string key = item.key();
    CAPTURE(key);
    CHECK(result.out.find(flag_for_key(key) + " ") != std::string::npos);
  }
  for (const char* flag : {"--config", "--print-config", "--port-file", "--listen", "--version"}) {
    CAPTURE(flag);
    CHECK(result.out.find(flag) != std::string::npos);
  }
  CHECK(result.out.find("Examples:") != std::string::npos);
}

TEST_CASE("--version prints the version and exits 0") {
  const auto result = run({"--version"});
  CHECK_FALSE(result.outcome.options);
  CHECK(result.outcome.exit_code == 0);
  CHECK(result.out == "relay-server 0.1.0\n");
}
