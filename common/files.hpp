#pragma once

#include <optional>
#include <string>

namespace relay::common {

// The whole file, or nothing (errno says why) when it cannot be read: also
// for a directory, where libstdc++ would throw from the read itself.
std::optional<std::string> read_whole_file(const std::string& path);

}  // namespace relay::common
