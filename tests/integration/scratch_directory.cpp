#include "tests/integration/scratch_directory.hpp"

#include <unistd.h>

#include <random>

#include "common/files.hpp"

namespace relay::testing {

ScratchDirectory::ScratchDirectory(const std::string& prefix)
    : dir(std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) +
                                                    "-" + std::to_string(std::random_device()()))) {
  std::filesystem::create_directories(dir);
}

ScratchDirectory::~ScratchDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

std::string ScratchDirectory::text(const std::string& name) const {
  return common::read_whole_file(path(name)).value_or("");
}

}  // namespace relay::testing
