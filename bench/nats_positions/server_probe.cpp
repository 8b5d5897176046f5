#include "server_probe.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace relay::bench::nats_positions {

ServerSample sample_process(pid_t pid) {
  ServerSample sample;
  const std::string base = "/proc/" + std::to_string(pid);
  std::ifstream status(base + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      sample.rss_kib = std::stoll(line.substr(6));
    }
  }
  // Fields 14 and 15 (utime, stime); the command name in field 2 may hold
  // spaces, so count from the closing parenthesis.
  std::ifstream stat_file(base + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    long long utime = 0;
    long long stime = 0;
    for (int index = 3; fields >> field; ++index) {
      if (index == 14) {
        utime = std::stoll(field);
      } else if (index == 15) {
        stime = std::stoll(field);
        break;
      }
    }
    sample.cpu_ms = (utime + stime) * 1000 / sysconf(_SC_CLK_TCK);
  }
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(base + "/fd", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++sample.open_files;
  }
  return sample;
}

StoreSize store_size(const std::string& directory) {
  StoreSize size;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(directory, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    struct stat info {};
    if (::lstat(it->path().c_str(), &info) == 0) {
      size.bytes += static_cast<std::int64_t>(info.st_blocks) * 512;
      if (S_ISREG(info.st_mode)) {
        ++size.files;
      }
    }
  }
  return size;
}

}  // namespace relay::bench::nats_positions
