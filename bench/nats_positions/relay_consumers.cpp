#include "relay_consumers.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "server_probe.hpp"

namespace relay::bench::nats_positions {
namespace {

// Ordered consumers get an idle heartbeat every 5 s: what merely keeping
// them costs shows over one or two of those.
constexpr int kIdleSeconds = 6;

std::int64_t own_cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000 +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000;
}

}  // namespace

SubscriptionPtr subscribe_new(jsCtx* context, const char* stream, const std::string& filter,
                              Deliveries& deliveries) {
  jsSubOptions options;
  check(jsSubOptions_Init(&options), "jsSubOptions_Init");
  options.Stream = stream;
  options.Ordered = true;
  options.Config.DeliverPolicy = js_DeliverNew;
  natsSubscription* subscription = nullptr;
  jsErrCode code{};
  check(js_Subscribe(&subscription, context, filter.c_str(), &Deliveries::on_message, &deliveries,
                     nullptr, &options, &code),
        "js_Subscribe " + filter, code);
  return SubscriptionPtr(subscription);
}

nlohmann::json feed_consumers(const Options& options, Publisher& publisher,
                              const std::string& prefix, std::uint64_t expected,
                              Deliveries& deliveries, double create_ms, const ServerSample& before,
                              std::int64_t own_rss_before_kib) {
  const ServerSample created = sample_process(options.server_pid);
  const std::int64_t own_rss_created_kib = sample_process(getpid()).rss_kib;
  const std::int64_t idle_cpu_before = sample_process(options.server_pid).cpu_ms;
  std::this_thread::sleep_for(std::chrono::seconds(kIdleSeconds));
  const std::int64_t idle_cpu_ms = sample_process(options.server_pid).cpu_ms - idle_cpu_before;

  const std::int64_t own_cpu_before = own_cpu_ms();
  const ServerSample fed_before = sample_process(options.server_pid);
  const std::int64_t start_ns = now_ns();
  publisher.publish(prefix, options.consumer_messages, options.rooms);
  const bool complete = deliveries.wait_for(expected);
  std::int64_t last_ns = 0;
  std::uint64_t received = 0;
  {
    std::lock_guard lock(deliveries.mutex);
    last_ns = deliveries.last_ns;
    received = deliveries.received;
  }
  const ServerSample after = sample_process(options.server_pid);
  return {
      {"create_ms", create_ms},
      {"server_rss_growth_kib", created.rss_kib - before.rss_kib},
      {"own_rss_growth_kib", own_rss_created_kib - own_rss_before_kib},
      {"server_idle_cpu_ms", idle_cpu_ms},
      {"delivered", received},
      {"expected", expected},
      {"complete", complete},
      {"deliver_all_ms", static_cast<double>(last_ns - start_ns) / 1e6},
      {"server_cpu_ms", after.cpu_ms - fed_before.cpu_ms},
      {"own_cpu_ms", own_cpu_ms() - own_cpu_before},
  };
}

}  // namespace relay::bench::nats_positions
