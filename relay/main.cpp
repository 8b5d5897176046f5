// relay-server: config -> hub -> gRPC server -> signals.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "common/anonymous_exposure.hpp"
#include "common/config.hpp"
#include "common/grpc_runtime.hpp"
#include "common/logging.hpp"
#include "relay/backplane/nats_backplane.hpp"
#include "relay/metrics/metrics_server.hpp"
#include "relay/service/relay_service.hpp"
#include "relay/service/server_credentials.hpp"
#include "relay/service/server_options.hpp"

namespace {

using relay::common::RelayConfig;

constexpr const char* kServiceName = "relay.v1.Relay";
constexpr auto kUnaryShutdownGrace = std::chrono::milliseconds(250);

// Written to a temporary name and renamed, so a reader never sees half a port.
// Plain POSIX calls that go on after EINTR: the signal handler is installed by
// now, without SA_RESTART, and a signal must not cost the announcement.
bool write_port_file(const std::string& path, int port) {
  const std::string temporary = path + ".tmp";
  int fd = -1;
  do {
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return false;
  }
  const std::string text = std::to_string(port) + "\n";
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && errno != EINTR) {
    return false;
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  return !error;
}

// Rooms are swept often enough that an idle room goes within a few seconds of
// its time-to-live, and never more often than every 100 ms.
std::chrono::milliseconds sweep_interval(const RelayConfig& config) {
  return std::chrono::milliseconds(
      std::clamp<std::int64_t>(config.room_idle_ttl_ms / 4, 100, 10000));
}

// How often health follows the backplane: a balancer sees a relay that lost
// its broker within this.
constexpr auto kHealthInterval = std::chrono::milliseconds(250);

// How long a relay may be unable to order publishes before it ends its
// streams. Its clients' publishes are refused meanwhile, and it hears no
// other relay's messages; ended, they reconnect, and a client balancing over
// several relays with health checks reaches one that serves. Long enough for
// a NATS reconnect or a JetStream leader election, which take a few seconds.
// (CI once saw a relay whose new NATS node answered no consumer request for
// 90 s, while the other relay, on another node, served all along.)
constexpr auto kShedStreamsAfter = std::chrono::seconds(10);

// The backplane's state as the health loop last saw it.
struct ServingState {
  bool serving = false;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  bool shed = false;  // the streams of this spell of not serving were ended
};

// SIGHUP is an operator's habit for "read your certificates again", and would
// otherwise end the relay. gRPC 1.51 cannot be told to re-read them at once:
// they are read every --tls-reload-interval-ms anyway, which the line says.
void on_hangup(boost::asio::signal_set& hangups, const RelayConfig& config) {
  hangups.async_wait([&hangups, &config](const boost::system::error_code& error, int) {
    if (error) {
      return;
    }
    if (config.tls_cert.empty()) {
      spdlog::info("SIGHUP: no TLS files to read again; the relay goes on");
    } else {
      spdlog::info(
          "SIGHUP: the TLS files are read again every {} ms, with or without a signal; "
          "renewed ones are served to new connections within that",
          config.tls_reload_interval_ms);
    }
    on_hangup(hangups, config);
  });
}

void schedule_health(boost::asio::steady_timer& timer, relay::service::RelayService& service,
                     grpc::HealthCheckServiceInterface& health, ServingState state) {
  timer.expires_after(kHealthInterval);
  timer.async_wait([&timer, &service, &health, state](const boost::system::error_code& error) {
    if (error) {
      return;
    }
    ServingState next = state;
    const bool now = service.serving();
    if (now != state.serving) {
      health.SetServingStatus(now);
      health.SetServingStatus(kServiceName, now);
      spdlog::info("health: {}", now ? "SERVING"
                                     : "NOT_SERVING (the backplane cannot order "
                                       "publishes)");
      next = {now, std::chrono::steady_clock::now(), false};
    } else if (!now && !state.shed &&
               std::chrono::steady_clock::now() - state.since >= kShedStreamsAfter) {
      next.shed = true;
      const std::size_t streams = service.shed_streams();
      spdlog::warn(
          "the backplane has not served for {} s: ended {} streams so that their "
          "clients connect again, to a relay that serves",
          std::chrono::duration_cast<std::chrono::seconds>(kShedStreamsAfter).count(), streams);
    }
    schedule_health(timer, service, health, next);
  });
}

relay::service::BackplaneFactory backplane_factory(const RelayConfig& config) {
  if (config.backplane != "nats") {
    return {};
  }
  return [&config](relay::hub::Hub& hub) -> std::unique_ptr<relay::backplane::Backplane> {
    return std::make_unique<relay::backplane::NatsBackplane>(config, hub);
  };
}

// Runs `task` every `interval` on the io thread until the timer is cancelled.
void schedule_every(boost::asio::steady_timer& timer, std::chrono::milliseconds interval,
                    std::function<void()> task) {
  timer.expires_after(interval);
  timer.async_wait(
      [&timer, interval, task = std::move(task)](const boost::system::error_code& error) {
        if (!error) {
          task();
          schedule_every(timer, interval, task);
        }
      });
}

int serve(const relay::common::StartupOptions& options) {
  const RelayConfig& config = options.config;
  // The signals are caught from here on: one that comes before the handler
  // below is installed waits for it, so a supervisor that stops the relay as
  // soon as the port file appears gets a drain, not death by signal.
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::signal_set hangups(io, SIGHUP);
  if (auto refusal = relay::common::anonymous_exposure(config)) {
    spdlog::error("{}", *refusal);
    return 2;
  }
  auto tokens = relay::common::TokenVerifier::from_config(config);
  if (const auto* problem = std::get_if<std::string>(&tokens)) {
    spdlog::error("{}", *problem);
    return 2;
  }
  std::optional<relay::service::RelayService> service_holder;
  try {
    service_holder.emplace(config, backplane_factory(config),
                           std::get<std::shared_ptr<const relay::common::TokenVerifier>>(tokens));
  } catch (const std::runtime_error& error) {
    spdlog::error("{}", error.what());
    return 2;
  }
  relay::service::RelayService& service = *service_holder;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto credentials = relay::service::server_credentials(config);
  if (const auto* problem = std::get_if<std::string>(&credentials)) {
    spdlog::error("{}", *problem);
    return 2;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen_address,
                           std::get<std::shared_ptr<grpc::ServerCredentials>>(credentials), &port);
  relay::service::apply_server_options(builder, config);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::error(
        "cannot listen on {}: the port is in use (is another relay running there?) or the "
        "address is not one of this machine's",
        config.listen_address);
    return 2;
  }
  auto* health = server->GetHealthCheckService();
  const bool serving = service.serving();
  health->SetServingStatus(serving);
  health->SetServingStatus(kServiceName, serving);
  spdlog::info("relay listening on {} (port {}, {})", config.listen_address, port,
               config.tls_cert.empty()        ? "plaintext"
               : config.tls_client_ca.empty() ? "TLS"
                                              : "mutual TLS");
  // Declared after the service, so stopped before it goes: a scrape reads it.
  std::unique_ptr<relay::metrics::MetricsServer> metrics;
  if (!config.metrics_listen.empty()) {
    auto started = relay::metrics::MetricsServer::start(
        config.metrics_listen, [&service] { return relay::metrics::render(service.readings()); });
    if (auto* error = std::get_if<std::string>(&started)) {
      spdlog::error("{}", *error);
      server->Shutdown();
      return 2;
    }
    metrics = std::move(std::get<0>(started));
    spdlog::info("metrics at http://{}/metrics (port {})", config.metrics_listen, metrics->port());
  }

  boost::asio::steady_timer sweep_timer(io);
  schedule_every(sweep_timer, sweep_interval(config), [&service] { service.sweep(); });
  // A stream that sends is ended for its token at its first frame past the
  // end; one that only reads is ended by this check, within a quarter of a
  // second. Without tokens there is nothing to check.
  boost::asio::steady_timer token_timer(io);
  if (!config.auth_key.empty()) {
    schedule_every(token_timer, std::chrono::milliseconds(250),
                   [&service] { service.check_tokens(); });
  }
  boost::asio::steady_timer health_timer(io);
  schedule_health(health_timer, service, *health, ServingState{.serving = serving});
  on_hangup(hangups, config);
  std::thread drainer;
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) {
      return;
    }
    spdlog::info("signal {}: draining {} streams for up to {} ms (again to stop at once)", signal,
                 service.open_streams(), config.shutdown_grace_ms);
    // Health first, so balancers stop sending new calls here.
    health->SetServingStatus(false);
    health->SetServingStatus(kServiceName, false);
    service.begin_shutdown();
    sweep_timer.cancel();
    token_timer.cancel();
    health_timer.cancel();
    signals.async_wait([](const boost::system::error_code& again, int) {
      if (!again) {
        spdlog::warn("second signal: stopping without waiting for the drain");
        spdlog::default_logger()->flush();
        std::_Exit(1);
      }
    });
    // The drain waits on its own thread, so this one stays free to hear a
    // second signal.
    drainer = std::thread([&] {
      const auto grace = std::chrono::milliseconds(config.shutdown_grace_ms);
      if (!service.wait_drained(std::chrono::steady_clock::now() + grace)) {
        spdlog::warn("{} streams did not drain in time; cancelling them", service.open_streams());
      }
      // The streams are over. gRPC's own Shutdown would also wait for clients
      // to close their connections, which they need not do; a short deadline
      // lets unary calls in flight finish, then cancels and disconnects the rest.
      server->Shutdown(std::chrono::system_clock::now() + kUnaryShutdownGrace);
      boost::asio::post(io, [&signals, &hangups] {
        signals.cancel();
        hangups.cancel();
      });
    });
  });
  // The metrics port first: a port file that exists says everything listens.
  if (metrics && !options.metrics_port_file.empty() &&
      !write_port_file(options.metrics_port_file, metrics->port())) {
    spdlog::error("cannot write the metrics port file {}", options.metrics_port_file);
    server->Shutdown();
    return 1;
  }
  if (!options.port_file.empty() && !write_port_file(options.port_file, port)) {
    spdlog::error("cannot write the port file {}", options.port_file);
    server->Shutdown();
    return 1;
  }
  io.run();
  if (drainer.joinable()) {
    drainer.join();
  }
  server->Wait();
  spdlog::info("relay stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  relay::common::disable_abseil_deadlock_detection();
  auto outcome = relay::common::parse_relay_command_line(argc, argv);
  if (!outcome.options) {
    return outcome.exit_code;
  }
  const auto& options = *outcome.options;
  if (options.print_config) {
    std::cout << relay::common::to_json(options.config).dump(2) << "\n";
    return 0;
  }
  if (auto error =
          relay::common::setup_logging(options.config.log_format, options.config.log_level)) {
    std::cerr << "relay-server: " << *error << "\n";
    return 2;
  }
  return serve(options);
}
