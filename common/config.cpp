#include "common/config.hpp"

#include <cmath>
#include <concepts>
#include <limits>
#include <utility>

#include <spdlog/fmt/fmt.h>
#include <nlohmann/json.hpp>

#include "common/config_fields.hpp"
#include "common/validation.hpp"

namespace relay::common {
namespace {

using nlohmann::json;

// How an offending JSON value appears in an error: strings quoted and
// sanitised, containers by kind only, since they can be arbitrarily large.
std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return quote_for_humans(value.get_ref<const std::string&>());
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    default:
      return value.dump();
  }
}

template <std::integral T>
std::optional<T> read_number(const json& value) {
  // nlohmann keeps non-negative integers from a parsed document as unsigned
  // but those built in code as signed, so both must be accepted.
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (std::in_range<T>(number)) {
      return static_cast<T>(number);
    }
  } else if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    if (std::in_range<T>(number)) {
      return static_cast<T>(number);
    }
  }
  return std::nullopt;
}

template <std::floating_point T>
std::optional<T> read_number(const json& value) {
  if (value.is_number() && std::isfinite(value.get<T>())) {
    return value.get<T>();
  }
  return std::nullopt;
}

template <typename T>
std::string requirement(const NumberField<T>& field) {
  const char* kind = std::is_integral_v<T> ? "a whole number" : "a number";
  if (field.max == std::numeric_limits<T>::max()) {
    return fmt::format("{} of at least {}", kind, field.min);
  }
  return fmt::format("{} from {} to {}", kind, field.min, field.max);
}

template <typename T>
std::optional<std::string> apply_value(RelayConfig& config, const NumberField<T>& field,
                                       const json& value) {
  const std::optional<T> number = read_number<T>(value);
  if (!number || *number < field.min || *number > field.max) {
    return "must be " + requirement(field) + ", got " + describe(value);
  }
  config.*field.member = *number;
  return std::nullopt;
}

std::optional<std::string> apply_value(RelayConfig& config, const TextField& field,
                                       const json& value) {
  if (!value.is_string() || !field.accepts(value.get_ref<const std::string&>())) {
    return "must be " + std::string(field.requirement) + ", got " + describe(value);
  }
  config.*field.member = value.get<std::string>();
  return std::nullopt;
}

std::optional<std::string> apply_value(RelayConfig& config, const SwitchField& field,
                                       const json& value) {
  if (!value.is_boolean()) {
    return "must be true or false, got " + describe(value);
  }
  config.*field.member = value.get<bool>();
  return std::nullopt;
}

}  // namespace

json to_json(const RelayConfig& config) {
  json result = json::object();
  for (const ConfigField& field : config_fields()) {
    std::visit([&](const auto& rule) { result[std::string(field.key)] = config.*rule.member; },
               field.rule);
  }
  return result;
}

std::optional<ConfigError> apply_json(RelayConfig& config, const json& settings) {
  // The document as a whole has no key; callers that know where it came from
  // (a file) name that instead.
  if (!settings.is_object()) {
    return ConfigError{"", "settings must be a JSON object, got " + describe(settings)};
  }
  // Work on a copy so that a bad key halfway through leaves `config` as it was.
  RelayConfig updated = config;
  // Not a structured binding: clang 14 cannot capture one in the lambda below.
  for (const auto& item : settings.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    const ConfigField* field = find_config_field(key);
    if (field == nullptr) {
      return ConfigError{key, "is not a known setting"};
    }
    auto problem = std::visit([&](const auto& rule) { return apply_value(updated, rule, value); },
                              field->rule);
    if (problem) {
      return ConfigError{key, std::move(*problem)};
    }
  }
  config = std::move(updated);
  return std::nullopt;
}

}  // namespace relay::common
