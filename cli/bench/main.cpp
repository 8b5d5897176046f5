// relay-bench: drives a relay (or, for comparison, nats-server) with many
// streams and reports throughput, latency, loss and the server's CPU cost per
// delivered message.
#include <cmath>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/bench/run.hpp"
#include "cli/tls_options.hpp"
#include "common/grpc_runtime.hpp"

namespace {

using relay::cli::bench::Report;

// A side is saturated when it used nearly all of the one core it is pinned to.
constexpr double kSaturated = 0.9;
// Above this share of stolen time, the hypervisor's other guests decide the
// run's latency as much as the server does.
constexpr double kNoisyHost = 0.05;

// CLI::Range lets "nan" through (every comparison with it is false), and a
// NaN of seconds cast to milliseconds is undefined.
const CLI::Validator kFinite(
    [](const std::string& text) -> std::string {
      return std::isfinite(std::strtod(text.c_str(), nullptr)) ? "" : "must be a finite number";
    },
    "FINITE");

double per_second(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

nlohmann::json to_json(const Report& r, const std::string& driver,
                       const relay::cli::bench::Workload& load) {
  nlohmann::json json{{"scenario", r.scenario},
                      {"driver", driver},
                      {"streams_per_connection", load.streams_per_connection},
                      {"accept_batch", load.accept_batch},
                      {"user_per_stream", load.user_per_stream},
                      {"seconds", r.seconds},
                      {"streams", r.streams},
                      {"idle_streams", r.idle_streams},
                      {"churned_streams", r.churned},
                      {"churned_between_rss_samples", r.churned_between_rss_samples},
                      {"delivered_per_s", per_second(r.delivered, r.seconds)},
                      {"published_per_s", per_second(r.published, r.seconds)},
                      {"lost", r.lost},
                      {"duplicated", r.duplicated},
                      {"refused", r.refused},
                      {"failed_streams", r.failed_streams},
                      {"latency_us",
                       {{"p50", r.p50_us},
                        {"p90", r.p90_us},
                        {"p99", r.p99_us},
                        {"p99.9", r.p999_us},
                        {"max", r.max_us}}}};
  if (r.seconds > 0) {
    json["bench_cpu_share"] = r.bench_cpu_ns / (r.seconds * 1e9);
  }
  if (r.relay_cpu_ns && r.seconds > 0) {
    json["relay_cpu_share"] = static_cast<double>(*r.relay_cpu_ns) / (r.seconds * 1e9);
    json["relay_cpu_ns_per_delivery"] =
        r.delivered > 0 ? static_cast<double>(*r.relay_cpu_ns) / static_cast<double>(r.delivered)
                        : 0;
  }
  if (r.host_steal_share) {
    // The verdict and its threshold travel with the figure, so that the
    // scripts summarising runs judge them as this table does.
    json["host_steal_share"] = *r.host_steal_share;
    json["host_noisy"] = *r.host_steal_share > kNoisyHost;
    json["host_noisy_above"] = kNoisyHost;
  }
  if (r.relay_rss_before && r.relay_rss_after) {
    json["relay_rss_before"] = *r.relay_rss_before;
    json["relay_rss_after"] = *r.relay_rss_after;
    if (r.streams > 0) {
      json["relay_rss_per_stream"] =
          (static_cast<double>(*r.relay_rss_after) - static_cast<double>(*r.relay_rss_before)) /
          static_cast<double>(r.streams);
    }
  }
  return json;
}

// `server`: what the bench drove, in words ("relay", "server").
void print_table(const Report& r, const nlohmann::json& json, const std::string& server) {
  std::cout << fmt::format("scenario            {}\n", r.scenario.empty() ? "custom" : r.scenario)
            << fmt::format(
                   "streams             {} ({}{} failed to join or closed by the {})\n", r.streams,
                   r.idle_streams > 0 ? fmt::format("{} of them idle; ", r.idle_streams) : "",
                   r.failed_streams, server)
            << fmt::format("delivered           {:.0f} msgs/s\n",
                           per_second(r.delivered, r.seconds))
            << fmt::format("published           {:.0f} msgs/s ({} refused)\n",
                           per_second(r.published, r.seconds), r.refused)
            << fmt::format("latency (us)        p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
                           r.p50_us, r.p90_us, r.p99_us, r.p999_us, r.max_us)
            << fmt::format("lost / duplicated   {} / {}\n", r.lost, r.duplicated);
  const double bench_share = json.value("bench_cpu_share", 0.0);
  if (json.contains("bench_cpu_share")) {
    std::cout << fmt::format("bench CPU           {:.0f} % of a core\n", bench_share * 100);
  }
  if (json.contains("relay_cpu_share")) {
    const double relay_share = json["relay_cpu_share"];
    std::cout << fmt::format("{:<20}{:.0f} % of a core, {:.0f} ns per delivery\n", server + " CPU",
                             relay_share * 100, json["relay_cpu_ns_per_delivery"].get<double>());
    const std::string verdict = relay_share >= kSaturated ? "the " + server + " was saturated"
                                : bench_share >= kSaturated
                                    ? "the bench was saturated, not the " + server
                                    : "neither side was saturated";
    std::cout << fmt::format("bottleneck          {}\n", verdict);
  }
  if (r.host_steal_share) {
    std::cout << fmt::format(
        "host steal          {:.0f} % of the machine's CPU time{}\n", *r.host_steal_share * 100,
        *r.host_steal_share > kNoisyHost ? " (other guests of the host ran: the figures are noisy)"
                                         : "");
  }
  if (r.churned > 0) {
    std::cout << fmt::format(
        "churned streams     {} ({} in the second half, where RSS is measured)\n", r.churned,
        r.churned_between_rss_samples);
  }
  if (json.contains("relay_rss_per_stream")) {
    std::cout << fmt::format("{:<20}{:.1f} MiB -> {:.1f} MiB, {:.0f} bytes per stream\n",
                             server + " RSS", static_cast<double>(*r.relay_rss_before) / (1 << 20),
                             static_cast<double>(*r.relay_rss_after) / (1 << 20),
                             json["relay_rss_per_stream"].get<double>());
  }
}

}  // namespace

int main(int argc, char** argv) {
  relay::common::disable_abseil_deadlock_detection();
  relay::cli::bench::RunOptions options;
  auto& load = options.workload;
  std::string driver = "grpc";
  bool json = false;
  std::vector<int> relay_pids;
  double duration_s = 10, warmup_s = 1;

  CLI::App app("Load generator for relay-server: fan-out throughput, latency, loss, CPU cost.",
               "relay-bench");
  app.footer(R"(
Scenarios (fixed, so results compare over time):
  fanout   1 publisher, 100 subscribers, one room, 64 B, max rate, 10 s
  latency  1 publisher at 1,000 msgs/s, 100 subscribers, 256 B, 10 s
  quiet    1 publisher at 100 msgs/s, 100 subscribers, 256 B, 10 s
  rooms    50 rooms with 1 publisher and 20 subscribers each, max rate, 10 s
  idle     10,000 idle subscriber streams in 100 rooms, each its own user: RSS
           per stream
  churn    1 publisher at 1,000 msgs/s, 20 steady subscribers, 4 streams joining
           and leaving all the time: no loss for those present, RSS before and
           after the churn (growth means a leak)
  crowd    latency beside 10,000 idle streams in 100 other rooms, each stream
           its own user, as a chat relay holds more people than are talking

Drivers:
  grpc     relay-server or the Go reference (bench/reference), over Chat streams
  nats     nats-server (core NATS), the same fan-out: a room is a subject, a
           subscriber a subscription, --streams-per-connection of them share a
           connection; loss and duplicates are found per publisher

Start the relay with --publish-rate-per-second 0, or its rate limit is measured.
Example: relay-bench --scenario fanout --relay 127.0.0.1:50051 --relay-pid $(pidof relay-server)
Example: relay-bench --driver nats --scenario fanout --relay nats://127.0.0.1:4222)");
  app.add_option("--driver", driver, "What --relay is: grpc (a relay) or nats (nats-server)")
      ->check(CLI::IsMember({"grpc", "nats"}))
      ->capture_default_str();
  app.add_option("--relay", options.target,
                 "The server: a gRPC target (default 127.0.0.1:50051; several relays as "
                 "ipv4:A:P,B:P, over which each connection's streams are spread), or with "
                 "--driver nats a NATS URL (default nats://127.0.0.1:4222)");
  app.add_option("--scenario", options.scenario,
                 "fanout, latency, quiet, rooms, idle, churn or crowd")
      ->check(CLI::IsMember({"fanout", "latency", "quiet", "rooms", "idle", "churn", "crowd"}));
  // Flags are parsed into their own Workload and laid over the scenario's:
  // an explicit flag always wins, whatever the order on the command line.
  relay::cli::bench::Workload flags;
  std::vector<std::function<void()>> overrides;
  auto workload_option = [&](const std::string& name, auto field, const std::string& help) {
    auto* option = app.add_option(name, flags.*field, help);
    overrides.push_back([option, field, &flags, &load] {
      if (option->count() > 0) {
        load.*field = flags.*field;
      }
    });
    return option;
  };
  using relay::cli::bench::Workload;
  // Counts are checked against a range: -1 would otherwise read as 2^64 - 1
  // and open streams until memory ran out.
  workload_option("--subscribers", &Workload::subscribers, "Subscriber streams in all")
      ->check(CLI::Range(1, 1000000));
  workload_option("--publishers", &Workload::publishers, "Publishers per room")
      ->check(CLI::Range(0, 10000));
  workload_option("--rooms", &Workload::rooms, "Rooms")->check(CLI::PositiveNumber);
  workload_option("--streams-per-connection", &Workload::streams_per_connection,
                  "Subscriber streams sharing one connection")
      ->check(CLI::PositiveNumber);
  workload_option("--idle-streams", &Workload::idle_streams,
                  "Idle streams held beside the measured ones, 100 a room in rooms of their own, "
                  "joined first")
      ->check(CLI::Range(0, 1000000));
  workload_option("--size", &Workload::message_bytes,
                  "Message body bytes (at least 40: the time sent, publisher and sequence)")
      ->check(CLI::Range(0, 16 * 1024 * 1024));
  workload_option("--rate", &Workload::rate,
                  "Messages per second per publisher; 0 = as fast as the room's fan-out goes")
      ->check(kFinite & CLI::Range(0.0, 10'000'000.0));
  workload_option(
      "--window", &Workload::window,
      "At rate 0, how many messages a room's publishers may be ahead of its slowest subscriber")
      ->check(CLI::Range(1, 1000000));
  bool no_batch = false;
  app.add_flag("--no-batch", no_batch,
               "Subscribers refuse batched frames (the relay then writes one frame per message), "
               "as clients generated from relay.proto do");
  bool user_per_stream = false;
  auto* user_per_stream_flag =
      app.add_flag("--user-per-stream,!--one-user", user_per_stream,
                   "Each subscriber stream is a user of its own, or all are one user (the "
                   "scenario decides: idle has a user per stream, the others one user)");
  app.add_option("--duration", duration_s, "Seconds measured")
      ->check(kFinite & CLI::Range(0.001, 86400.0));
  app.add_option("--warmup", warmup_s, "Seconds of load before measuring")
      ->check(kFinite & CLI::Range(0.0, 3600.0));
  app.add_option("--relay-pid", relay_pids,
                 "The server's PID (relay-server, the reference or nats-server), for its RSS and "
                 "CPU time; several, comma separated, are summed (the relays of a cluster and "
                 "their NATS)")
      ->delimiter(',');
  app.add_flag("--json", json, "One JSON object instead of the table (no progress line)");
  relay::common::ClientTls tls;
  relay::cli::add_tls_options(app, tls);
  CLI11_PARSE(app, argc, argv);

  if (!options.scenario.empty()) {
    relay::cli::bench::apply_scenario(options.scenario, load);
  }
  for (const auto& apply : overrides) {
    apply();
  }
  load.accept_batch = !no_batch;
  if (user_per_stream_flag->count() > 0) {
    load.user_per_stream = user_per_stream;
  }
  const bool nats = driver == "nats";
  options.transport =
      nats ? relay::cli::bench::Transport::nats : relay::cli::bench::Transport::grpc;
  if (options.target.empty()) {
    options.target = nats ? "nats://127.0.0.1:4222" : "127.0.0.1:50051";
  }
  if (nats && no_batch) {
    std::cerr << "relay-bench: --no-batch is about the relay's batches; core NATS has none\n";
    return 2;
  }
  if (nats && tls.on()) {
    std::cerr << "relay-bench: the TLS flags are for relays; the NATS driver speaks plaintext\n";
    return 2;
  }
  auto credentials = relay::common::channel_credentials(tls);
  if (const auto* problem = std::get_if<std::string>(&credentials)) {
    std::cerr << "relay-bench: " << *problem << "\n";
    return 2;
  }
  options.credentials = std::get<std::shared_ptr<grpc::ChannelCredentials>>(credentials);
  if (app.count("--duration") > 0 || options.scenario.empty()) {
    load.duration = std::chrono::milliseconds(static_cast<std::int64_t>(duration_s * 1000));
  }
  if (app.count("--warmup") > 0 || options.scenario.empty()) {
    load.warmup = std::chrono::milliseconds(static_cast<std::int64_t>(warmup_s * 1000));
  }
  options.relay_pids.assign(relay_pids.begin(), relay_pids.end());
  options.progress = !json;
  Report report;
  try {
    report = relay::cli::bench::run_workload(options);
  } catch (const std::exception& error) {
    std::cerr << "relay-bench: " << error.what() << "\n";
    return 1;
  }
  const auto summary = to_json(report, driver, load);
  if (json) {
    std::cout << summary.dump() << "\n";
  } else {
    print_table(report, summary, nats ? "server" : "relay");
  }
  return report.lost == 0 && report.duplicated == 0 && report.failed_streams == 0 ? 0 : 1;
}
