#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace relay::cli::bench {

// What /proc says about a process: resident memory and CPU time (user and
// system, all threads), read before and after a measured interval.
struct ProcessSample {
  std::uint64_t rss_bytes = 0;
  std::uint64_t cpu_ns = 0;
};

std::optional<ProcessSample> sample_process(pid_t pid);
// The sum over several processes (the relays of a cluster and their broker);
// none when one of them cannot be read.
std::optional<ProcessSample> sample_processes(const std::vector<pid_t>& pids);
// This process's own CPU time (getrusage), for the bench's side of the load.
std::uint64_t own_cpu_ns();

// The machine's CPU time in /proc/stat's ticks, summed over its CPUs: all of
// it, and what the hypervisor gave to other guests ("steal"). On a shared
// virtual machine a run with much stolen time is noise, whatever it says.
struct HostCpuSample {
  std::uint64_t total_ticks = 0;
  std::uint64_t steal_ticks = 0;
};
std::optional<HostCpuSample> sample_host_cpu();
// The share of the machine's CPU time stolen between two samples; none when
// a counter went back (some hypervisors' steal does, after a migration).
std::optional<double> steal_share(const HostCpuSample& before, const HostCpuSample& after);

}  // namespace relay::cli::bench
