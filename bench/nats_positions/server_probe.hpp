#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace relay::bench::nats_positions {

// What nats-server costs, read from outside it: its resident memory and CPU
// from /proc (all threads), its store from the files it wrote.
struct ServerSample {
  std::int64_t rss_kib = 0;
  std::int64_t cpu_ms = 0;
  // A store per stream holds files open: the process's limit bounds streams.
  std::int64_t open_files = 0;
};

ServerSample sample_process(pid_t pid);
// Bytes allocated on disk under `directory` (st_blocks, as du counts them),
// and how many files: a stream per room is a directory and files per room.
struct StoreSize {
  std::int64_t bytes = 0;
  std::int64_t files = 0;
};
StoreSize store_size(const std::string& directory);

}  // namespace relay::bench::nats_positions
