// The relay's /metrics endpoint, scraped over HTTP from a real relay.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "tests/integration/http_client.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;

namespace {

// A relay serving metrics on a port of its choice, and that port.
struct MetricsRelay {
  static std::filesystem::path port_file() {
    static int counter = 0;
    return std::filesystem::temp_directory_path() /
           ("relay-metrics-port-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
  }
  MetricsRelay()
      : path(port_file()),
        relay({"--metrics-listen", "127.0.0.1:0", "--metrics-port-file", path.string()}) {
    // The relay writes this file before its own port file, which the
    // RelayProcess constructor has waited for.
    std::ifstream(path) >> metrics_port;
    REQUIRE(metrics_port > 0);
  }
  ~MetricsRelay() { std::filesystem::remove(path); }

  std::filesystem::path path;
  RelayProcess relay;
  int metrics_port = 0;
};

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

double scraped(const std::string& response, const std::string& series) {
  const auto found = value(response, series);
  REQUIRE_MESSAGE(found, series, " is not in:\n", response);
  return *found;
}

}  // namespace

TEST_CASE("/metrics counts streams, rooms, publishes, deliveries, bytes, writes and refusals") {
  MetricsRelay metrics;
  const std::string before = get(metrics.metrics_port, "/metrics");
  REQUIRE(status_line(before) == "HTTP/1.1 200 OK");
  CHECK(before.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(before.find("# TYPE relay_deliveries_total counter\n") != std::string::npos);
  CHECK(before.find("relay_build_info{version=\"") != std::string::npos);
  CHECK(scraped(before, "relay_backplane_up") == 1);
  CHECK(scraped(before, "relay_open_streams{kind=\"chat\"}") == 0);

  // Batching streams, so that their writes are timed.
  ChatClient ann(metrics.relay.target(), "ann", true);
  ChatClient bob(metrics.relay.target(), "bob", true);
  join_and_wait(ann, "lobby");
  join_and_wait(bob, "lobby");
  for (int i = 0; i < 3; ++i) {
    publish_acked(ann, "lobby", "hello " + std::to_string(i), "m-" + std::to_string(i));
    REQUIRE(bob.next_of(relay::v1::ServerFrame::kMessage));
  }
  REQUIRE(bob.publish("elsewhere", "not joined", "x-1"));  // PERMISSION_DENIED
  REQUIRE(bob.next_of(relay::v1::ServerFrame::kError));

  // A delivery is counted once its write completes, which may be a moment
  // after the client has read it: scraped until the last one is in.
  std::string after;
  CHECK(wait_until(
      [&] {
        after = get(metrics.metrics_port, "/metrics");
        const auto deliveries = value(after, "relay_deliveries_total");
        return deliveries && *deliveries >= 6 + 2 + 3 + 1;
      },
      std::chrono::seconds(5)));
  REQUIRE(status_line(after) == "HTTP/1.1 200 OK");
  CHECK(scraped(after, "relay_open_streams{kind=\"chat\"}") == 2);
  CHECK(scraped(after, "relay_rooms") == 1);
  CHECK(scraped(after, "relay_room_subscribers") == 2);
  CHECK(scraped(after, "relay_messages_published_total") -
            scraped(before, "relay_messages_published_total") ==
        3);
  // Each message to both members, plus joins, acks and the refusal.
  CHECK(scraped(after, "relay_deliveries_total") >= 6 + 2 + 3 + 1);
  CHECK(scraped(after, "relay_subscriber_bytes_written_total") >
        scraped(before, "relay_subscriber_bytes_written_total"));
  CHECK(scraped(after, "relay_subscriber_writes_total") > 0);
  CHECK(scraped(after, "relay_write_latency_seconds_count") > 0);
  CHECK(scraped(after, "relay_write_latency_seconds_bucket{le=\"+Inf\"}") ==
        scraped(after, "relay_write_latency_seconds_count"));
  CHECK(scraped(after, "relay_refusals_total{code=\"permission_denied\"}") == 1);
  CHECK(scraped(after, "relay_slow_consumer_closes_total") == 0);
}

TEST_CASE("/metrics answers bad requests with an HTTP error and the relay keeps serving") {
  MetricsRelay metrics;
  CHECK(status_line(get(metrics.metrics_port, "/other")) == "HTTP/1.1 404 Not Found");
  CHECK(status_line(get(metrics.metrics_port, "/metrics",
                        "X-Padding: " + std::string(64 * 1024, 'a') + "\r\n")) ==
        "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(status_line(http_exchange(metrics.metrics_port, "NOT HTTP AT ALL\r\n\r\n")) ==
        "HTTP/1.1 400 Bad Request");
  CHECK(status_line(http_exchange(metrics.metrics_port,
                                  "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")) ==
        "HTTP/1.1 405 Method Not Allowed");

  CHECK(status_line(get(metrics.metrics_port, "/metrics")) == "HTTP/1.1 200 OK");
  ChatClient ann(metrics.relay.target(), "ann");
  join_and_wait(ann, "lobby");
  publish_acked(ann, "lobby", "still serving", "m-1");
}

TEST_CASE("every metric /metrics serves is in the README's Metrics table") {
  MetricsRelay metrics;
  const std::string scrape = get(metrics.metrics_port, "/metrics");
  std::ifstream in(std::filesystem::path(RELAY_SOURCE_DIR) / "README.md");
  const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream lines(scrape);
  int families = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) != 0) {
      continue;
    }
    const std::string name = line.substr(7, line.find(' ', 7) - 7);
    CAPTURE(name);
    CHECK(readme.find("| `" + name + "` |") != std::string::npos);
    ++families;
  }
  CHECK(families >= 20);
}
