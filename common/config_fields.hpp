#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/config.hpp"

// Internal to relay_common: shared by config.cpp (JSON) and command_line.cpp
// (flags and --help).
namespace relay::common {

// A numeric field and the closed range of values it accepts.
template <typename T>
struct NumberField {
  T RelayConfig::*member;
  T min;
  T max;
};

// A text field, the test a value must pass, and that test stated in words
// for error messages ("text or json").
struct TextField {
  std::string RelayConfig::*member;
  bool (*accepts)(std::string_view value);
  std::string_view requirement;
};

// A switch: a JSON true or false, and a flag that turns it on by its name
// alone (--allow-anonymous), or either way with a value (--allow-anonymous=false).
struct SwitchField {
  bool RelayConfig::*member;
};

using FieldRule = std::variant<NumberField<std::size_t>, NumberField<std::int64_t>,
                               NumberField<double>, TextField, SwitchField>;

// One entry per RelayConfig member. JSON keys, flags, --help and validation
// all come from this one list, so adding a field in one place adds it
// everywhere and none of them can drift apart.
struct ConfigField {
  std::string_view key;
  // A shorter flag accepted besides the one derived from the key; empty for most.
  std::string_view flag_alias = {};
  // The placeholder --help shows after the flag, naming the unit; none for a switch.
  std::string_view value_name = {};
  std::string_view help;
  FieldRule rule;
};

std::span<const ConfigField> config_fields();
const ConfigField* find_config_field(std::string_view key);

}  // namespace relay::common
