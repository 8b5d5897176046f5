#pragma once

#include <optional>
#include <string_view>

#include <spdlog/common.h>

// Internal to relay_common: config validation and setup_logging accept the
// same words through these, so a config that validates always sets up.
namespace relay::common {

inline constexpr std::string_view kLogLevelNames =
    "trace, debug, info, warn, error, critical or off";
inline constexpr std::string_view kLogFormatNames = "text or json";

std::optional<spdlog::level::level_enum> log_level_from_name(std::string_view name);
bool is_log_format_name(std::string_view name);

}  // namespace relay::common
