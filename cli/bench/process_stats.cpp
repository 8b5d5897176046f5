#include "cli/bench/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace relay::cli::bench {

std::optional<ProcessSample> sample_process(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream stat(dir + "/stat");
  std::string line;
  if (!std::getline(stat, line)) {
    return std::nullopt;
  }
  // Field 2 (the command) may hold spaces; the fields after it follow its ')'.
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) {
      utime = std::stoull(field);
    } else if (index == 15) {
      stime = std::stoull(field);
    }
  }
  const auto ticks_per_second = static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
  ProcessSample sample;
  sample.cpu_ns = (utime + stime) * 1'000'000'000ULL / ticks_per_second;

  std::ifstream status(dir + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      sample.rss_bytes = std::stoull(line.substr(6)) * 1024;  // reported in kB
    }
  }
  return sample;
}

std::uint64_t own_cpu_ns() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto ns = [](const timeval& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(t.tv_usec) * 1000ULL;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

std::optional<HostCpuSample> sample_host_cpu() {
  std::ifstream stat("/proc/stat");
  std::string label;
  if (!(stat >> label) || label != "cpu") {
    return std::nullopt;
  }
  // user nice system idle iowait irq softirq steal, then guest time that
  // user and nice already count.
  HostCpuSample sample;
  std::uint64_t ticks = 0;
  for (int index = 0; index < 8 && stat >> ticks; ++index) {
    sample.total_ticks += ticks;
    if (index == 7) {
      sample.steal_ticks = ticks;
    }
  }
  return sample;
}

std::optional<double> steal_share(const HostCpuSample& before, const HostCpuSample& after) {
  if (after.total_ticks <= before.total_ticks || after.steal_ticks < before.steal_ticks) {
    return std::nullopt;
  }
  const std::uint64_t stolen = after.steal_ticks - before.steal_ticks;
  const std::uint64_t total = after.total_ticks - before.total_ticks;
  return std::min(1.0, static_cast<double>(stolen) / static_cast<double>(total));
}

std::optional<ProcessSample> sample_processes(const std::vector<pid_t>& pids) {
  ProcessSample sum;
  for (const pid_t pid : pids) {
    const auto sample = sample_process(pid);
    if (!sample) {
      return std::nullopt;
    }
    sum.rss_bytes += sample->rss_bytes;
    sum.cpu_ns += sample->cpu_ns;
  }
  return sum;
}

}  // namespace relay::cli::bench
