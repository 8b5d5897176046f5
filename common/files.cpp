#include "common/files.hpp"

#include <fstream>
#include <ios>
#include <iterator>

namespace relay::common {

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return std::nullopt;
  }
  try {
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure&) {
    return std::nullopt;
  }
}

}  // namespace relay::common
