#pragma once

#include <optional>
#include <string>

namespace relay::common {

// Sets up the default spdlog logger on stderr: format "text" (human lines) or
// "json" (one JSON object per line: time, level, msg). Returns an error
// message for an unknown format or level.
std::optional<std::string> setup_logging(const std::string& format, const std::string& level);

}  // namespace relay::common
