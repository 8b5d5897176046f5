#include "cli/bench/run.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/bench/driver.hpp"
#include "cli/bench/process_stats.hpp"

namespace relay::cli::bench {
namespace {

constexpr auto kJoinTimeout = std::chrono::seconds(30);
constexpr auto kProgressInterval = std::chrono::seconds(1);

std::string room_name(std::size_t index) { return fmt::format("bench-{}", index); }

// Rooms of a chat's size; none of the measured rooms.
constexpr std::size_t kIdleStreamsPerRoom = 100;

std::string idle_room_name(std::size_t index) {
  return fmt::format("bench-idle-{}", index / kIdleStreamsPerRoom);
}

struct ChurnTally {
  std::mutex mutex;
  std::uint64_t streams = 0;     // guarded by mutex
  std::uint64_t lost = 0;        // guarded by mutex
  std::uint64_t duplicated = 0;  // guarded by mutex
  std::uint64_t failed = 0;      // guarded by mutex
};

// One stream that joins, stays a while, leaves, and checks that what it got
// while present was contiguous.
void churn_once(Driver& driver, const std::string& room, const Workload& load, ChurnTally& churn) {
  const auto stream = driver.churner(room);
  const bool joined = stream->wait_joined(kJoinTimeout);
  if (joined) {
    // The time it is present, not a wait for an event.
    std::this_thread::sleep_for(load.churn_stay);
  }
  stream->cancel();
  stream->wait_done();
  const StreamTally tally = stream->deliveries().tally();
  std::lock_guard lock(churn.mutex);
  ++churn.streams;
  churn.lost += tally.lost;
  churn.duplicated += tally.duplicated;
  churn.failed += joined && !stream->ended_early() ? 0 : 1;
}

std::unique_ptr<Driver> make_driver(const RunOptions& options, const Phase& phase) {
  switch (options.transport) {
    case Transport::nats:
      return make_nats_driver(options.target, options.workload, phase);
    case Transport::grpc:
      break;
  }
  return make_grpc_driver(
      options.target,
      options.credentials ? options.credentials : grpc::InsecureChannelCredentials(),
      options.workload, phase);
}

}  // namespace

Report run_workload(const RunOptions& options) {
  const Workload& load = options.workload;
  Report report;
  report.scenario = options.scenario;
  if (!options.relay_pids.empty()) {
    if (auto before = sample_processes(options.relay_pids)) {
      report.relay_rss_before = before->rss_bytes;
    }
  }
  Phase phase;
  // Declared before everything it opens, so that it closes its connections
  // after them.
  const std::unique_ptr<Driver> driver = make_driver(options, phase);
  // The crowd comes first, as it would on a relay that has been up a while.
  // Its streams' indexes follow the measured ones, so that users and
  // connections are their own.
  std::unique_ptr<Crowd> crowd;
  if (load.idle_streams > 0) {
    std::vector<std::string> rooms;
    for (std::size_t i = 0; i < load.idle_streams; ++i) {
      rooms.push_back(idle_room_name(i));
    }
    const std::size_t first_idle = (load.subscribers + load.streams_per_connection - 1) /
                                   load.streams_per_connection * load.streams_per_connection;
    crowd = driver->crowd(first_idle, rooms);
    report.failed_streams += crowd->wait_joined(kJoinTimeout);
  }
  std::vector<RoomProgress> progress(load.rooms);
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  // Publishers without a rate are paced by their room's subscribers.
  const bool paced = load.rate <= 0;
  for (std::size_t i = 0; i < load.subscribers; ++i) {
    const std::size_t room = i % load.rooms;
    subscribers.push_back(
        driver->subscriber(i, room_name(room), paced ? &progress[room] : nullptr));
  }
  // A stream that never joined failed once: its end is not counted again.
  std::vector<bool> joined;
  std::vector<std::size_t> joined_per_room(load.rooms, 0);
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    joined.push_back(subscribers[i]->wait_joined(kJoinTimeout));
    if (joined.back()) {
      ++joined_per_room[i % load.rooms];
    } else {
      ++report.failed_streams;
    }
  }
  for (std::size_t room = 0; room < load.rooms; ++room) {
    progress[room].expect(joined_per_room[room], load.window);
  }
  // Without a server there (the likeliest cause) nothing can be measured:
  // the report says so at once, not after the whole warm-up and duration.
  const bool nobody_joined = std::find(joined.begin(), joined.end(), true) == joined.end();
  if (nobody_joined) {
    std::cerr << fmt::format("no subscriber could join at {}: is the server running there?\n",
                             options.target);
  }
  report.streams = subscribers.size() + load.idle_streams;
  report.idle_streams = load.idle_streams;

  std::vector<std::unique_ptr<Publisher>> publishers;
  for (std::size_t room = 0; room < load.rooms; ++room) {
    for (std::size_t p = 0; p < load.publishers; ++p) {
      publishers.push_back(driver->publisher(
          PublisherOptions{room_name(room), static_cast<std::uint32_t>(p), load.message_bytes,
                           load.rate, load.window, &progress[room]}));
      progress[room].publishers.push_back(publishers.back().get());
    }
  }
  for (auto& publisher : publishers) {
    publisher->start();
  }
  if (!nobody_joined) {
    std::this_thread::sleep_for(load.warmup);  // warm-up is a span of time, not an event
  }

  auto published = [&] {
    std::uint64_t sum = 0;
    for (auto& publisher : publishers) {
      sum += publisher->published();
    }
    return sum;
  };
  const std::uint64_t published_before = published();
  std::optional<ProcessSample> relay_before;
  if (!options.relay_pids.empty()) {
    relay_before = sample_processes(options.relay_pids);
  }
  const std::uint64_t bench_cpu_before = own_cpu_ns();
  const auto host_before = sample_host_cpu();
  const auto started = std::chrono::steady_clock::now();
  phase.measuring = true;
  ChurnTally churn;
  std::atomic<bool> churning{true};
  std::vector<std::thread> churners;
  for (std::size_t i = 0; i < load.churners; ++i) {
    churners.emplace_back([&] {
      while (churning.load()) {
        churn_once(*driver, room_name(0), load, churn);
      }
    });
  }
  const auto end = nobody_joined ? started : started + load.duration;
  const auto halfway = started + load.duration / 2;
  std::optional<ProcessSample> relay_halfway;
  std::uint64_t churned_halfway = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (load.churners > 0 && !options.relay_pids.empty() && !relay_halfway &&
        std::chrono::steady_clock::now() >= halfway) {
      relay_halfway = sample_processes(options.relay_pids);
      std::lock_guard lock(churn.mutex);
      churned_halfway = churn.streams;
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        kProgressInterval, end - std::chrono::steady_clock::now()));
    if (options.progress) {
      std::uint64_t delivered = 0;
      for (auto& subscriber : subscribers) {
        delivered += subscriber->deliveries().delivered_so_far();
      }
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::cerr << fmt::format("\r{:>5.1f} s  {:>10.0f} delivered/s  {:>9.0f} published/s", elapsed,
                               static_cast<double>(delivered) / elapsed,
                               static_cast<double>(published() - published_before) / elapsed)
                << std::flush;
    }
  }
  churning = false;
  for (auto& churner : churners) {
    churner.join();
  }
  phase.measuring = false;
  // Without a subscriber nothing was measured: no span to give rates and
  // CPU shares over (over the microseconds spent, a share read 49,206 %).
  report.seconds =
      nobody_joined
          ? 0
          : std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.published = published() - published_before;
  report.bench_cpu_ns = own_cpu_ns() - bench_cpu_before;
  if (const auto host_after = sample_host_cpu(); host_before && host_after) {
    report.host_steal_share = steal_share(*host_before, *host_after);
  }
  if (relay_halfway) {
    // Churn is about what the joining and leaving leaves behind: memory
    // from halfway through the churn to its end. The first half lets what
    // is bounded but fills up over time (a room's history and duplicate
    // window, allocator arenas, gRPC's estimate of a call's size) reach its
    // size, so that what grows after it is what streams leave behind.
    report.relay_rss_before = relay_halfway->rss_bytes;
    report.churned_between_rss_samples = churn.streams - churned_halfway;
  }
  if (relay_before) {
    if (auto after = sample_processes(options.relay_pids)) {
      report.relay_cpu_ns = after->cpu_ns - relay_before->cpu_ns;
      report.relay_rss_after = after->rss_bytes;
    }
  }
  if (options.progress) {
    std::cerr << "\n";
  }

  for (auto& publisher : publishers) {
    publisher->stop();
    report.refused += publisher->refused();
  }
  common::LatencyHistogram latencies;
  for (auto& subscriber : subscribers) {
    subscriber->cancel();
  }
  if (crowd) {
    report.failed_streams += crowd->dismiss();
  }
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    auto& subscriber = subscribers[i];
    subscriber->wait_done();
    if (joined[i] && subscriber->ended_early()) {
      ++report.failed_streams;
    }
    const StreamTally tally = subscriber->deliveries().tally();
    report.delivered += tally.delivered;
    report.lost += tally.lost;
    report.duplicated += tally.duplicated;
    if (const auto* histogram = subscriber->deliveries().latencies()) {
      latencies.merge(*histogram);
    }
  }
  report.lost += churn.lost;
  report.duplicated += churn.duplicated;
  report.failed_streams += churn.failed;
  report.churned = churn.streams;
  report.p50_us = latencies.percentile(50);
  report.p90_us = latencies.percentile(90);
  report.p99_us = latencies.percentile(99);
  report.p999_us = latencies.percentile(99.9);
  report.max_us = latencies.max();
  return report;
}

}  // namespace relay::cli::bench
