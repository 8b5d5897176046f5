#include <algorithm>
#include <cerrno>
#include <iostream>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "common/config_fields.hpp"
#include "common/files.hpp"

namespace relay::common {
namespace {

using nlohmann::json;

constexpr int kUsageExitCode = 2;

constexpr const char* kExamples =
    "Examples:\n"
    "  relay-server --listen 0.0.0.0:50051 --auth-key secret.txt --log-format json\n"
    "  relay-server --config relay.json --history-max-messages 5000 --print-config\n";

std::string flag_for_key(std::string_view key) {
  std::string flag = "--" + std::string(key);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string default_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// A flag's text becomes the JSON value a config file would hold, so flags
// and files go through one validation. Text that is not a number (or true or
// false) stays a string, which the rule then rejects with the usual message.
json flag_value(const ConfigField& field, const std::string& text) {
  if (std::holds_alternative<TextField>(field.rule)) {
    return text;
  }
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_number() || value.is_boolean() ? value : json(text);
}

std::optional<ConfigError> apply_config_file(RelayConfig& config, const std::string& path) {
  const std::optional<std::string> text = read_whole_file(path);
  if (!text) {
    return ConfigError{path, "cannot be read: " + std::generic_category().message(errno)};
  }
  json settings;
  try {
    settings = json::parse(*text);
  } catch (const json::exception& error) {
    // Not only parse_error: a number too large for a double ("1e400") is an
    // out_of_range. nlohmann starts its messages with an id meant for
    // programmers.
    std::string_view reason = error.what();
    if (const auto end = reason.find("] "); end != std::string_view::npos) {
      reason.remove_prefix(end + 2);
    }
    return ConfigError{path, "is not valid JSON: " + std::string(reason)};
  }
  if (auto error = apply_json(config, settings)) {
    error->key = error->key.empty() ? path : path + ": " + error->key;
    return error;
  }
  return std::nullopt;
}

ParseOutcome fail(const ConfigError& error) {
  std::cerr << "relay-server: config error: " << error.key << ": " << error.message << '\n';
  return ParseOutcome{std::nullopt, kUsageExitCode};
}

}  // namespace

ParseOutcome parse_relay_command_line(int argc, const char* const* argv) {
  CLI::App app{"Relays chat messages between gRPC clients, room by room.", "relay-server"};
  app.set_version_flag("--version", std::string("relay-server ") + kRelayVersion,
                       "Print the version and exit.");
  app.footer(kExamples);

  StartupOptions options;
  std::string config_path;
  CLI::Option* config_option =
      app.add_option("--config", config_path,
                     "JSON file with settings, keyed like the flags below with underscores "
                     "(history_max_messages); flags override it.")
          ->type_name("FILE");
  app.add_flag("--print-config", options.print_config,
               "Print the effective settings as JSON on stdout and exit.");
  app.add_option("--port-file", options.port_file,
                 "File to write the listening port to once the relay listens, for port 0.")
      ->type_name("PATH");
  app.add_option("--metrics-port-file", options.metrics_port_file,
                 "File to write the metrics port to once it is served, for port 0.")
      ->type_name("PATH");

  // Flags are kept as text and applied after the file, through apply_json,
  // so a flag and a JSON key can never disagree on what is valid.
  const std::span<const ConfigField> fields = config_fields();
  const json defaults = to_json(RelayConfig{});
  std::vector<std::string> flag_texts(fields.size());
  std::vector<CLI::Option*> flag_options;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const ConfigField& field = fields[i];
    std::string names = flag_for_key(field.key);
    if (!field.flag_alias.empty()) {
      names = std::string(field.flag_alias) + "," + names;
    }
    CLI::Option* option = nullptr;
    if (std::holds_alternative<SwitchField>(field.rule)) {
      // CLI11 gives "true" for the bare flag, or the text after '='.
      option = app.add_flag(names, flag_texts[i], std::string(field.help));
    } else {
      option = app.add_option(names, flag_texts[i], std::string(field.help))
                   ->type_name(std::string(field.value_name))
                   ->default_str(default_text(defaults.at(std::string(field.key))));
    }
    // The last one wins, so a script can append an override.
    flag_options.push_back(option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // app.exit prints help, the version or CLI11's message. CLI11 has an exit
    // code per kind of mistake; callers only need "fine" or "usage error".
    const int cli_exit_code = app.exit(error);
    return ParseOutcome{std::nullopt, cli_exit_code == 0 ? 0 : kUsageExitCode};
  }

  if (config_option->count() > 0) {
    if (auto error = apply_config_file(options.config, config_path)) {
      return fail(*error);
    }
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (flag_options[i]->count() == 0) {
      continue;
    }
    const json setting = {{std::string(fields[i].key), flag_value(fields[i], flag_texts[i])}};
    if (auto error = apply_json(options.config, setting)) {
      error->key = flag_options[i]->get_name();
      return fail(*error);
    }
  }
  return ParseOutcome{std::move(options), 0};
}

}  // namespace relay::common
