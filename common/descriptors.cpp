#include "common/descriptors.hpp"

#include <dirent.h>

#include <cstdlib>

namespace relay::common {

void for_each_descriptor(const std::function<bool(int fd)>& visit) {
  DIR* descriptors = opendir("/proc/self/fd");
  if (descriptors == nullptr) {
    return;
  }
  while (const dirent* entry = readdir(descriptors)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(descriptors)) {
      continue;
    }
    if (!visit(static_cast<int>(fd))) {
      break;
    }
  }
  closedir(descriptors);
}

}  // namespace relay::common
