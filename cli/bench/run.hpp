#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/security/credentials.h>

#include "cli/bench/scenario.hpp"

namespace relay::cli::bench {

struct Report {
  std::string scenario;
  double seconds = 0;
  std::uint64_t delivered = 0;
  std::uint64_t published = 0;
  std::uint64_t refused = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t failed_streams = 0;
  std::uint64_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  // Given --relay-pid: memory before and after, CPU over the measured interval.
  std::optional<std::uint64_t> relay_rss_before, relay_rss_after, relay_cpu_ns;
  std::uint64_t bench_cpu_ns = 0;
  // The share of the machine's CPU time the hypervisor gave to others over
  // the measured interval; none where /proc/stat cannot be read.
  std::optional<double> host_steal_share;
  std::uint64_t streams = 0;  // the idle ones included
  std::uint64_t idle_streams = 0;
  std::uint64_t churned = 0;
  // For churn, the RSS samples are taken halfway through and at the end;
  // how many streams came and went between them.
  std::uint64_t churned_between_rss_samples = 0;
};

// Which kind of server the run drives (driver.hpp).
enum class Transport { grpc, nats };

struct RunOptions {
  Transport transport = Transport::grpc;
  // A gRPC target, or a NATS URL.
  std::string target;
  // For a gRPC target; none: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  Workload workload;
  std::string scenario;
  std::vector<pid_t> relay_pids;
  bool progress = true;
};

// Opens the streams, warms up, measures, and closes everything it opened.
// Throws std::runtime_error when the server cannot be reached at all.
Report run_workload(const RunOptions& options);

}  // namespace relay::cli::bench
